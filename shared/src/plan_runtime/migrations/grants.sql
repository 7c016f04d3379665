-- What every service's runtime role may do with the runtime's tables. Applied by
-- `plan_runtime.migrations.apply_grants` after every migration run, from a clean slate (everything revoked,
-- USAGE on the schema granted); `{role}` is the runtime role, `{schema}` the service's schema.

-- outbox: emit (INSERT), the relay's claim (SELECT ... FOR UPDATE), which moves each row it published into
-- outbox_published (DELETE here, INSERT there), parking a row and an operator's release of a parked row. The event
-- itself (topic, key, value) is never rewritten.
GRANT SELECT, INSERT, DELETE ON outbox TO {role};
GRANT UPDATE (attempts, last_error, parked_at) ON outbox TO {role};
-- the published events are a history: added and read, never changed
GRANT SELECT, INSERT ON outbox_published TO {role};
-- inbox: the applied-once marks; the replay of a dead letter forgets its mark.
GRANT SELECT, INSERT, DELETE ON inbox TO {role};
-- dead letters are a history: added, read, and a replay only stamps replayed_at.
GRANT SELECT, INSERT ON dead_letters TO {role};
GRANT UPDATE (replayed_at) ON dead_letters TO {role};
-- the audit of reads is a history too: added and read, never changed
GRANT SELECT, INSERT ON read_audit TO {role};
-- the start-up check that every migration file is applied
GRANT SELECT ON schema_migrations TO {role};
-- bigserial defaults (nextval) of every table
GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
