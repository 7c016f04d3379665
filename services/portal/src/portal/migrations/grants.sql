-- What the `portal` runtime role may do in its schema (see plan_runtime/migrations/grants.sql for the
-- outbox, inbox and dead letters). Re-applied from a clean slate after every migration run.

-- the read model: written only by the event handlers (upserts), read by the pages
GRANT SELECT, INSERT, UPDATE ON enrolments, decisions, reversals, institution_standing, notices TO {role};
GRANT SELECT, UPDATE ON read_model_version TO {role};
-- sessions end (log-out, expiry); uploads' results are kept for their institution, and may be cleared
GRANT SELECT, INSERT, DELETE ON sessions TO {role};
GRANT SELECT, INSERT, DELETE ON uploads TO {role};
-- what the finance and talent office pages created through the APIs (0002): kept, never changed
GRANT SELECT, INSERT ON finance_batches, talent_registrations TO {role};
