-- Year envelopes sum the approvals of one completion year.
CREATE INDEX subsidies_approved_by_completion ON subsidies (completed_on) WHERE status IN ('approved', 'paid');
