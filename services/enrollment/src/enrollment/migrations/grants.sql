-- What the `enrollment` runtime role may do in its schema (see plan_runtime/migrations/grants.sql for the
-- outbox, inbox and dead letters). Re-applied from a clean slate after every migration run: a table missing
-- here is refused by `apply_grants`. Only what store.py does; nothing may be TRUNCATEd, ALTERed or CREATEd.

-- mutable state: accredited institutions (suspension), their keys (revocation), enrolments (completion,
-- withdrawal), the stored answers of idempotent requests, the daily intake counters (upsert)
GRANT SELECT, INSERT, UPDATE ON institutions, api_keys, enrollments, idempotency_keys, daily_intake TO {role};
-- append-only: a person once pseudonymised is never rewritten; the audit log is never rewritten or erased; the
-- intake counts are one row per request (summed on read)
GRANT SELECT, INSERT ON trainees, audit_log, intake_counts TO {role};
-- the Bureau's review list
GRANT SELECT ON legacy_identities TO {role};
