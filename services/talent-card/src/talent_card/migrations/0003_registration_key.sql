-- A registration retried with the same Idempotency-Key (its answer was lost) gets the same talent back.
ALTER TABLE talents ADD COLUMN registration_key text UNIQUE;
