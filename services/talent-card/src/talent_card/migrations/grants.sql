-- What the `talent_card` runtime role may do in its schema (see plan_runtime/migrations/grants.sql for the
-- outbox, inbox and dead letters). Re-applied from a clean slate after every migration run: a table missing
-- here is refused by `apply_grants`. Only what store.py does; nothing may be TRUNCATEd, ALTERed or CREATEd.

-- mutable state: evidence (verified / rejected), plan progress (upserts), notices (acknowledged, decided)
GRANT SELECT, INSERT, UPDATE ON evidence, plan_progress, notices TO {role};
-- append-only: registered talents and every determination (why a person was or was not eligible)
GRANT SELECT, INSERT ON talents, determinations TO {role};
