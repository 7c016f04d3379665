-- An outcome reported or corrected after the completion (event outcome-reported) wins over the one the
-- completion carried, whichever of the two topics is read first: outcome_at is when the later report was made.
ALTER TABLE enrolments ADD COLUMN outcome_at timestamptz;
