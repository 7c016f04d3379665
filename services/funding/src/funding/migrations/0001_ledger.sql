-- The fund, the subsidies claimed against it, and the append-only ledger of every movement.

CREATE TABLE fund (
    id            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    total_yuan    bigint NOT NULL CHECK (total_yuan > 0),
    reserved_yuan bigint NOT NULL DEFAULT 0 CHECK (reserved_yuan >= 0),
    approved_yuan bigint NOT NULL DEFAULT 0 CHECK (approved_yuan >= 0),
    paid_yuan     bigint NOT NULL DEFAULT 0 CHECK (paid_yuan >= 0 AND paid_yuan <= approved_yuan),
    -- the money invariant: concurrent approvals can never overspend the fund
    CONSTRAINT fund_never_overspent CHECK (total_yuan - reserved_yuan - approved_yuan >= 0)
);

CREATE TABLE payment_batches (
    id             uuid PRIMARY KEY,
    institution_id uuid        NOT NULL,
    subsidy_count  integer     NOT NULL CHECK (subsidy_count > 0),
    total_yuan     bigint      NOT NULL CHECK (total_yuan > 0),
    status         text        NOT NULL CHECK (status IN ('open', 'paid')),
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    paid_by        text,
    paid_at        timestamptz
);

CREATE TABLE subsidies (
    id             uuid PRIMARY KEY,
    enrollment_id  uuid NOT NULL UNIQUE,
    trainee_id     text NOT NULL,
    institution_id uuid NOT NULL,
    tier           text NOT NULL,
    status         text NOT NULL CHECK (status IN
                       ('reserved', 'released', 'withdrawn', 'approved', 'rejected', 'paid', 'reversed')),
    amount_yuan    bigint NOT NULL DEFAULT 0 CHECK (amount_yuan >= 0),
    reason         text,
    policy_version text,
    completed_on   date,
    batch_id       uuid REFERENCES payment_batches (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    decided_at     timestamptz
);
-- one subsidy per person per tier, ever, whichever institution claims it
CREATE UNIQUE INDEX one_subsidy_per_person_per_tier ON subsidies (trainee_id, tier)
    WHERE status IN ('approved', 'paid');
CREATE INDEX subsidies_by_institution ON subsidies (institution_id, status);
CREATE INDEX subsidies_by_trainee ON subsidies (trainee_id);

CREATE TABLE ledger (
    id             bigserial PRIMARY KEY,
    subsidy_id     uuid        NOT NULL REFERENCES subsidies (id),
    entry          text        NOT NULL CHECK (entry IN ('reserve', 'release', 'approve', 'reverse', 'pay')),
    amount_yuan    bigint      NOT NULL CHECK (amount_yuan > 0),
    policy_version text,
    actor          text        NOT NULL,
    reason         text,
    caused_by      uuid,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_by_subsidy ON ledger (subsidy_id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: add a correcting entry instead';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
