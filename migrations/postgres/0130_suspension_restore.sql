-- PostgreSQL twin of migrations/sqlite/0130_suspension_restore.sql: keep the two in step.
-- Suspension for non-payment, restore after release, low-balance threshold.
-- A suspended number stays `assigned` (its owner keeps it through grace) and is
-- marked by `suspended_at`; routing refuses its calls until it is paid.
ALTER TABLE dids ADD COLUMN suspended_at BIGINT;
CREATE INDEX dids_suspended ON dids (account_id, suspended_at);

-- What a release leaves behind so that the former owner can take the number
-- back within the restore window (never past aging).
CREATE TABLE restorable_dids (
    did_id              BIGINT PRIMARY KEY REFERENCES dids (id),
    account_id          BIGINT NOT NULL REFERENCES accounts (id),
    restore_until       BIGINT NOT NULL,
    assigned_at         BIGINT NOT NULL,
    paid_through        BIGINT NOT NULL,
    forward_type        TEXT,
    forward_destination TEXT
);

-- The account's low-balance threshold (NULL: none) and whether the balance is
-- below it, so that each downward crossing is noticed once.
ALTER TABLE accounts ADD COLUMN low_balance_minor BIGINT;
ALTER TABLE accounts ADD COLUMN below_low_balance BIGINT NOT NULL DEFAULT 0;
