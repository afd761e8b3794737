-- no-transaction
-- A number withdrawn from sale by the operator: status 'withdrawn', owned by
-- nobody, out of search and the shelf; an inventory import puts it back.
-- SQLite cannot change a CHECK in place, so the table is rebuilt with the
-- procedure of https://www.sqlite.org/lang_altertable.html#otheralter
-- (foreign keys off around it: ledger entries keep pointing at `dids`).
-- `SELECT *` on purpose: a column added meanwhile fails this loudly instead of
-- being dropped silently.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE dids_new (
    id                  INTEGER PRIMARY KEY,
    number              TEXT   NOT NULL UNIQUE,
    country             TEXT   NOT NULL,
    did_type            TEXT   NOT NULL,
    region              TEXT,
    currency            TEXT   NOT NULL,
    setup_minor         BIGINT NOT NULL CHECK (setup_minor >= 0),
    monthly_minor       BIGINT NOT NULL CHECK (monthly_minor >= 0),
    status              TEXT   NOT NULL CHECK (status IN ('available', 'assigned', 'aging', 'withdrawn')),
    account_id          BIGINT REFERENCES accounts (id),
    assigned_at         BIGINT,
    paid_through        BIGINT,
    aging_until         BIGINT,
    forward_type        TEXT,
    forward_destination TEXT,
    updated_at          BIGINT NOT NULL,
    CHECK ((status = 'assigned') = (account_id IS NOT NULL))
);
INSERT INTO dids_new SELECT * FROM dids;
DROP TABLE dids;
ALTER TABLE dids_new RENAME TO dids;
CREATE INDEX dids_available_by_country ON dids (country, status, number);
CREATE INDEX dids_available_by_country_type ON dids (country, did_type, status, number);
CREATE INDEX dids_by_account ON dids (account_id, number);
CREATE INDEX dids_aging ON dids (status, aging_until);
CREATE INDEX dids_renewal ON dids (status, paid_through);
COMMIT;
PRAGMA foreign_keys = ON;
