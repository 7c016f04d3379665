-- Suspension is an event: each change of an institution's status gets the next sequence number, carried on
-- institution-suspended / institution-reinstated and on tier-completed, so consumers keep the newest status.
ALTER TABLE institutions ADD COLUMN status_seq bigint NOT NULL DEFAULT 0;

-- No oracle: how many rows each institution sent and had refused, per day (the Bureau's flag list).
CREATE TABLE daily_intake (
    institution_id uuid    NOT NULL REFERENCES institutions (id),
    day            date    NOT NULL,
    rows           integer NOT NULL CHECK (rows >= 0),
    refused        integer NOT NULL CHECK (refused >= 0 AND refused <= rows),
    PRIMARY KEY (institution_id, day)
);

CREATE INDEX audit_log_by_action ON audit_log (action, at);
