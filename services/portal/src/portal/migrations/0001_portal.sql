-- The portal's read model (fed only by the plan's events, in any order across topics), its sessions and the
-- results of cohort uploads made through it. No person's name or ID number is kept here: events carry
-- pseudonyms, which the read model does not need either.

CREATE TABLE enrolments (
    enrollment_id  uuid PRIMARY KEY,
    institution_id uuid NOT NULL,
    tier           text NOT NULL CHECK (tier IN ('basic', 'professional', 'senior')),
    target_group   text,                 -- NULL until trainee-enrolled is seen (a completion may come first)
    starts_on      date,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'passed', 'failed', 'withdrawn')),
    completed_on   date,
    outcome        text,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrolments_by_institution ON enrolments (institution_id, tier);

-- funding's decision on each completion: the latest of subsidy-approved / subsidy-rejected wins
CREATE TABLE decisions (
    enrollment_id  uuid PRIMARY KEY,
    subsidy_id     uuid UNIQUE,
    institution_id uuid NOT NULL,
    tier           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('approved', 'rejected')),
    amount_yuan    bigint NOT NULL DEFAULT 0 CHECK (amount_yuan >= 0),
    reason         text,                 -- a rejection's code
    policy_version text NOT NULL,
    decided_at     timestamptz NOT NULL
);
CREATE INDEX decisions_by_institution ON decisions (institution_id, decided_at);

-- reversals are kept apart (a reversal may be read before its approval: different topics)
CREATE TABLE reversals (
    subsidy_id     uuid PRIMARY KEY,
    institution_id uuid NOT NULL,
    tier           text NOT NULL,
    amount_yuan    bigint NOT NULL CHECK (amount_yuan > 0),
    reason         text NOT NULL,
    reversed_at    timestamptz NOT NULL
);

CREATE TABLE institution_standing (
    institution_id uuid PRIMARY KEY,
    status         text NOT NULL CHECK (status IN ('active', 'suspended')),
    status_seq     integer NOT NULL,
    reason         text NOT NULL,
    changed_at     timestamptz NOT NULL
);

CREATE TABLE notices (
    notice_id      uuid PRIMARY KEY,
    route          text NOT NULL,
    rule_id        text NOT NULL,
    announced_at   timestamptz NOT NULL
);

-- one row: bumped by every event applied, so open pages know when to fetch again
CREATE TABLE read_model_version (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    version    bigint NOT NULL,
    changed_at timestamptz NOT NULL
);
INSERT INTO read_model_version VALUES (true, 0, now());

-- log-ins: the cookie holds a random token; only its SHA-256 is kept, with the caller's key sealed (AES-GCM)
CREATE TABLE sessions (
    token_hash       bytea PRIMARY KEY,
    role             text NOT NULL CHECK (role IN ('bureau', 'finance', 'talent_office', 'institution')),
    institution_id   uuid,
    institution_name text,
    key_sealed       bytea NOT NULL,
    csrf             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CHECK ((role = 'institution') = (institution_id IS NOT NULL))
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- an upload's per-row results, for the institution that made it (shown as a table and downloadable)
CREATE TABLE uploads (
    upload_id      uuid PRIMARY KEY,
    institution_id uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('cohort', 'completions')),
    file_name      text NOT NULL,
    summary        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_by_institution ON uploads (institution_id, created_at DESC);
