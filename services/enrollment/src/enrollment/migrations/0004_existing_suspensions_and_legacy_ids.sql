-- Institutions suspended before suspension was an event: announce them now, so that funding holds their
-- completions and finance can release their reservations (status_seq 1, through the outbox).
UPDATE institutions SET status_seq = 1 WHERE status = 'suspended' AND status_seq = 0;
INSERT INTO outbox (event_id, topic, key, value)
SELECT e.id, 'institution-suspended', convert_to(i.id::text, 'UTF8'),
       convert_to(json_build_object(
           'event_id', e.id, 'type', 'institution-suspended', 'version', 1,
           'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'source', 'enrollment', 'subject', i.id::text, 'correlation_id', e.id, 'causation_id', NULL,
           'institution_id', i.id, 'status_seq', 1,
           'reason', 'suspended before suspensions were published')::text, 'UTF8')
FROM institutions i CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id) e
WHERE i.status = 'suspended' AND i.status_seq = 1
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.topic = 'institution-suspended' AND o.key = convert_to(i.id::text, 'UTF8'));

-- Trainees pseudonymised before ID numbers had one canonical form (their masked number is not ASCII):
-- their id is the hash of another spelling, so the same person could enrol again under the ASCII one.
-- The number itself is not stored, so they cannot be re-hashed here: the Bureau reviews them.
CREATE VIEW legacy_identities AS
    SELECT trainee_id, id_masked, birth_date, created_at FROM trainees
    WHERE id_masked !~ '^[0-9]{6}\*{8}[0-9]{3}[0-9X]$';
