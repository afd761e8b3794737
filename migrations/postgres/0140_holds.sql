-- PostgreSQL twin of migrations/sqlite/0140_holds.sql: keep the two in step.
-- Holds (issue 12): a number on sale reserved for one account until `held_until`.
-- Columns on `dids` rather than a table of their own, so that placing a hold and
-- selling the number are conditional UPDATEs of the same row: two instances can
-- never both win. An expired hold needs no clean-up to stop counting: every
-- reader compares `held_until` with its clock.
ALTER TABLE dids ADD COLUMN held_by BIGINT REFERENCES accounts (id);
ALTER TABLE dids ADD COLUMN held_until BIGINT;
CREATE INDEX dids_held_by ON dids (held_by, held_until);
