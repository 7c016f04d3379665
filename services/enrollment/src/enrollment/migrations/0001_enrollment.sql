-- Institutions and their keys, trainees (the only place personal data lives), enrolments.

CREATE TABLE institutions (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    mode       text        NOT NULL CHECK (mode IN ('online', 'offline', 'both')),
    status     text        NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id             uuid PRIMARY KEY,
    institution_id uuid        NOT NULL REFERENCES institutions (id),
    secret_sha256  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE trainees (
    trainee_id text PRIMARY KEY,          -- pseudonymous, published on events
    id_hash    text NOT NULL UNIQUE,      -- HMAC of the ID number; the number itself is never stored
    id_masked  text NOT NULL,
    name       text NOT NULL,
    phone      text NOT NULL,
    birth_date date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
    id               uuid PRIMARY KEY,
    trainee_id       text        NOT NULL REFERENCES trainees (trainee_id),
    institution_id   uuid        NOT NULL REFERENCES institutions (id),
    tier             text        NOT NULL CHECK (tier IN ('basic', 'professional', 'senior')),
    target_group     text        NOT NULL,
    mode             text        NOT NULL CHECK (mode IN ('online', 'offline')),
    starts_on        date        NOT NULL,
    niche            text,
    status           text        NOT NULL CHECK (status IN ('open', 'completed', 'withdrawn')),
    completed_on     date,
    passed           boolean,
    outcome          text CHECK (outcome IN ('employed', 'own_business', 'seeking')),
    withdrawn_reason text,
    policy_version   text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- one open enrolment per person per tier, at any institution (the race-proof fence)
CREATE UNIQUE INDEX one_open_enrollment_per_person_and_tier ON enrollments (trainee_id, tier)
    WHERE status = 'open';
-- one passed course per person per tier
CREATE UNIQUE INDEX one_pass_per_person_and_tier ON enrollments (trainee_id, tier)
    WHERE status = 'completed' AND passed;
CREATE INDEX enrollments_by_institution ON enrollments (institution_id, status);

CREATE TABLE idempotency_keys (
    principal    text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status_code  integer     NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    subject text        NOT NULL,
    reason  text,
    at      timestamptz NOT NULL DEFAULT now()
);
