-- Operator keys for the admin API (`/admin/v1/`). Only a SHA-256 of each key is
-- kept; the key itself is shown once, when it is made.
CREATE TABLE operator_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    role       TEXT   NOT NULL CHECK (role IN ('admin', 'billing', 'support', 'readonly')),
    key_hash   TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- A suspended account cannot log in and its numbers do not ring; a closed one
-- (the admin API's delete) is kept for its ledger but can do nothing.
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended', 'closed'));
