-- An institution uploads withdrawals through the portal too (enrollment's POST /withdrawals): their per-row
-- results are kept like a cohort's or completions'.
ALTER TABLE uploads DROP CONSTRAINT uploads_kind_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_kind_check CHECK (kind IN ('cohort', 'completions', 'withdrawals'));
