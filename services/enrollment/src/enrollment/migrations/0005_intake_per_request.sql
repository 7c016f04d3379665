-- The day's intake, one row per request (summed on read): concurrent uploads of one institution no longer queue
-- on one counter row held until each commits (daily_intake's upsert). daily_intake keeps the counts written
-- before this migration; the flag list adds both.
CREATE TABLE intake_counts (
    institution_id uuid    NOT NULL REFERENCES institutions (id),
    day            date    NOT NULL,
    rows           integer NOT NULL CHECK (rows >= 0),
    refused        integer NOT NULL CHECK (refused >= 0 AND refused <= rows)
);
CREATE INDEX intake_counts_by_day ON intake_counts (day, institution_id);
