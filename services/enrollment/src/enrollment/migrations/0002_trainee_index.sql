-- A cohort looks up thousands of people at once: one index on the person, whatever the status.
CREATE INDEX enrollments_by_trainee ON enrollments (trainee_id);
