-- A suspended institution is paid nothing while suspended: its completions are `held` (with the
-- suspension's reason) and decided on reinstatement. Funding keeps each institution's newest status,
-- learnt from institution-suspended / institution-reinstated and from tier-completed (status_seq orders them).
CREATE TABLE institutions (
    institution_id uuid PRIMARY KEY,
    status         text        NOT NULL CHECK (status IN ('active', 'suspended')),
    status_seq     bigint      NOT NULL CHECK (status_seq >= 0),
    reason         text,
    changed_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE subsidies DROP CONSTRAINT subsidies_status_check;
ALTER TABLE subsidies ADD CONSTRAINT subsidies_status_check CHECK (status IN
    ('reserved', 'released', 'withdrawn', 'held', 'approved', 'rejected', 'paid', 'reversed'));
-- what a held completion said, so that it can be decided later
ALTER TABLE subsidies ADD COLUMN passed boolean;
CREATE INDEX subsidies_held ON subsidies (institution_id) WHERE status = 'held';
