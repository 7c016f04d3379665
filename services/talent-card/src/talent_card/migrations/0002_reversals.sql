-- A reversed senior subsidy no longer counts for the plan route, whichever of the two events came first.
ALTER TABLE plan_progress ADD COLUMN reversed_subsidy_id uuid;
