-- Introduced talents and their evidence, plan progress, determinations and the office's notices.

CREATE TABLE talents (
    id           uuid PRIMARY KEY,
    person_id    text        NOT NULL UNIQUE,   -- the same pseudonym enrollment uses for this ID number
    id_masked    text        NOT NULL,
    display_name text        NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE evidence (
    id          uuid PRIMARY KEY,
    talent_id   uuid        NOT NULL REFERENCES talents (id),
    kind        text        NOT NULL CHECK (kind IN ('followers', 'annual_sales', 'award', 'local_presence')),
    platform    text,
    value       bigint CHECK (value >= 0),
    level       text,
    detail      text,
    status      text        NOT NULL CHECK (status IN ('declared', 'verified', 'rejected')),
    decided_by  text,
    decided_at  timestamptz,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evidence_by_talent ON evidence (talent_id);

CREATE TABLE plan_progress (
    person_id           text PRIMARY KEY,
    senior_completed_on date,
    senior_subsidy_id   uuid
);

CREATE TABLE determinations (
    id           bigserial PRIMARY KEY,
    person_id    text        NOT NULL,
    route        text        NOT NULL,
    rule_id      text        NOT NULL,
    rule_version text        NOT NULL,
    eligible     boolean     NOT NULL,
    evidence     jsonb       NOT NULL,
    explanation  text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX determinations_by_person ON determinations (person_id, id);

CREATE TABLE notices (
    id              uuid PRIMARY KEY,
    person_id       text        NOT NULL UNIQUE,   -- eligible once, whichever route fired first
    route           text        NOT NULL,
    rule_id         text        NOT NULL,
    rule_version    text        NOT NULL,
    evidence        jsonb       NOT NULL,
    id_masked       text,
    status          text        NOT NULL CHECK (status IN ('waiting', 'acknowledged', 'issued', 'declined')),
    card_number     text UNIQUE,
    decline_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    acknowledged_at timestamptz,
    decided_by      text,
    decided_at      timestamptz
);
CREATE INDEX notices_by_status ON notices (status, route, created_at);
