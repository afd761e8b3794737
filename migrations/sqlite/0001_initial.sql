-- Money is BIGINT minor units, times are BIGINT unix seconds, so that one
-- sqlx `Any` code path decodes the same columns on SQLite and PostgreSQL.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    balance_minor BIGINT  NOT NULL DEFAULT 0,
    pbx_host      TEXT,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    token_hash  TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE dids (
    id                  INTEGER PRIMARY KEY,
    number              TEXT   NOT NULL UNIQUE,
    country             TEXT   NOT NULL,
    did_type            TEXT   NOT NULL,
    region              TEXT,
    currency            TEXT   NOT NULL,
    setup_minor         BIGINT NOT NULL CHECK (setup_minor >= 0),
    monthly_minor       BIGINT NOT NULL CHECK (monthly_minor >= 0),
    status              TEXT   NOT NULL CHECK (status IN ('available', 'assigned', 'aging')),
    account_id          BIGINT REFERENCES accounts (id),
    assigned_at         BIGINT,
    paid_through        BIGINT,
    aging_until         BIGINT,
    forward_type        TEXT,
    forward_destination TEXT,
    updated_at          BIGINT NOT NULL,
    CHECK ((status = 'assigned') = (account_id IS NOT NULL))
);
-- Search walks these in number order: one index per filter shape, each covering the
-- equality columns first so a page is a single range scan.
CREATE INDEX dids_available_by_country ON dids (country, status, number);
CREATE INDEX dids_available_by_country_type ON dids (country, did_type, status, number);
CREATE INDEX dids_by_account ON dids (account_id, number);
CREATE INDEX dids_aging ON dids (status, aging_until);
CREATE INDEX dids_renewal ON dids (status, paid_through);

CREATE TABLE ledger_entries (
    id                  INTEGER PRIMARY KEY,
    account_id          BIGINT NOT NULL REFERENCES accounts (id),
    kind                TEXT   NOT NULL CHECK (kind IN ('credit', 'setup_fee', 'monthly_charge', 'adjustment')),
    amount_minor        BIGINT NOT NULL,
    balance_after_minor BIGINT NOT NULL,
    did_id              BIGINT REFERENCES dids (id),
    did_number          TEXT,
    description         TEXT   NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX ledger_by_account ON ledger_entries (account_id, id);

CREATE TABLE idempotency_keys (
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    idem_key        TEXT   NOT NULL,
    fingerprint     TEXT   NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);

CREATE TABLE login_failures (
    username     TEXT   PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
