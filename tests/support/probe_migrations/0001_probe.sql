-- Every call of the probe's handler leaves a row; the effect itself is fenced by its natural key.
CREATE TABLE probe_calls (event_id uuid NOT NULL, called_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE probe_effects (enrollment_id uuid PRIMARY KEY, event_id uuid NOT NULL);
-- an operator's fix: once a row is here, the probe no longer refuses the niche 'refuse'
CREATE TABLE probe_fixed (fixed boolean PRIMARY KEY);
