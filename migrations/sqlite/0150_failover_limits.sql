-- Ordered failover and capacity limits (issue 13). Keep sqlite/ and postgres/ in step.
-- `forwards` holds the whole ordered list as JSON ([{"type","destination",
-- "timeout_seconds"}, ...]); forward_type/forward_destination keep mirroring
-- its first destination, so a row written before this migration (forwards
-- NULL) still reads as a one-destination list.
ALTER TABLE dids ADD COLUMN forwards TEXT;
-- Maximum concurrent calls, enforced by the operator's SBC; NULL: no limit.
ALTER TABLE dids ADD COLUMN max_calls BIGINT CHECK (max_calls IS NULL OR max_calls >= 0);
ALTER TABLE accounts ADD COLUMN max_calls BIGINT CHECK (max_calls IS NULL OR max_calls >= 0);
