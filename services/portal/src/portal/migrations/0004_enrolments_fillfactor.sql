-- Each enrolment's row is written when it is enrolled, then rewritten when it is completed or withdrawn (status,
-- completed_on, outcome: no indexed column). With every page filled, the new version had to go to another page,
-- and both indexes took a new entry for it (4 % of the updates of a full plan were HOT). With half of each page
-- left free, the new version stays in its page (a HOT update): no index entry, less WAL (docs/performance.md,
-- tenth round). Pages written from now on keep the room; existing ones stay as they are.
ALTER TABLE enrolments SET (fillfactor = 50);
