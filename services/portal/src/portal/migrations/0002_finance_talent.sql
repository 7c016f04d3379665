-- What the finance and talent office pages did through the APIs that the APIs cannot list: the payment batches
-- created through the portal (funding has no batch listing) and the introduced talents registered through it
-- (talent-card has no talent listing). Only ids and when: the rest is read back from the service's API.

CREATE TABLE finance_batches (
    batch_id       uuid PRIMARY KEY,
    institution_id uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX finance_batches_by_time ON finance_batches (created_at DESC);

CREATE TABLE talent_registrations (
    talent_id      uuid PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX talent_registrations_by_time ON talent_registrations (created_at DESC);
