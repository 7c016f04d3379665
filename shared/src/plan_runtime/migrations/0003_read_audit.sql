-- Who looked at which person's record: one row per person per read, never updated or deleted.
CREATE TABLE read_audit (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,   -- the role or institution, and the X-Actor person when given
    route     text        NOT NULL,   -- what was read, e.g. "GET /enrollments/{enrollment_id}"
    person_id text        NOT NULL    -- the pseudonym: the same id for a person in every service
);
CREATE INDEX read_audit_by_person ON read_audit (person_id, id);
CREATE INDEX read_audit_by_actor ON read_audit (actor, id);
