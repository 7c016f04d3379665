-- The relay never stops for one row: a row the broker refuses for good (too large, invalid topic) is
-- tried a bounded number of times, then parked with its error; the relay goes on with the rows after it.
ALTER TABLE outbox ADD COLUMN attempts   integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN parked_at  timestamptz;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
