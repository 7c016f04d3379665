-- A published event leaves the outbox: the relay's claim moves each row it sends into `outbox_published` (one
-- statement, in the transaction that commits only after the broker acknowledged), instead of marking it in place.
-- A mark rewrote the row (a new version and new entries in the outbox's unique indexes, as published_at is in the
-- partial indexes' predicates); a move is a deletion and one append to an unindexed table, about half the
-- database's work per event (docs/performance.md, "Eighth round"). The outbox holds only what is still to send
-- or parked; the archive keeps every event sent, with when: the audit trail `published_at` was.
CREATE TABLE outbox_published (
    id           bigint      NOT NULL,  -- the outbox row's id: the order the events were appended in
    event_id     uuid        NOT NULL,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz NOT NULL   -- the start of the relay's pass that sent it
);
INSERT INTO outbox_published (id, event_id, topic, key, value, created_at, published_at)
    SELECT id, event_id, topic, key, value, created_at, published_at FROM outbox WHERE published_at IS NOT NULL
    ORDER BY id;
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX outbox_unpublished;
DROP INDEX outbox_parked;
ALTER TABLE outbox DROP COLUMN published_at;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL;
