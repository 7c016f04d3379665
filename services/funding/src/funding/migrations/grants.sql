-- What the `funding` runtime role may do in its schema (see plan_runtime/migrations/grants.sql for the
-- outbox, inbox and dead letters). Re-applied from a clean slate after every migration run: a table missing
-- here is refused by `apply_grants`. Only what store.py does; nothing may be TRUNCATEd, ALTERed or CREATEd.

-- mutable state: the fund's totals, subsidies (their status moves), payment batches (paid), the newest
-- status of each institution (upsert)
GRANT SELECT, INSERT, UPDATE ON fund, subsidies, payment_batches, institutions TO {role};
-- append-only: the ledger of every movement of money (its trigger refuses UPDATE/DELETE even to the owner)
GRANT SELECT, INSERT ON ledger TO {role};
