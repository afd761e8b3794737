-- Call records reported by the operator's SBC (POST /v1/calls), one row per
-- SIP Call-ID: later reports of the same call (an acc INVITE record, then its
-- CDR, or a retried post) merge into it. The owner at call time is kept, so a
-- number sold again does not show its past calls to the new owner.
CREATE TABLE call_records (
    id            INTEGER PRIMARY KEY,
    call_id       TEXT   NOT NULL UNIQUE,
    did_id        BIGINT NOT NULL,
    account_id    BIGINT NOT NULL,
    number        TEXT   NOT NULL,
    caller        TEXT,
    outcome       TEXT   NOT NULL CHECK (outcome IN ('answered', 'missed', 'failed')),
    sip_code      BIGINT,
    started_at    BIGINT NOT NULL,
    answered_at   BIGINT,
    ended_at      BIGINT,
    duration_secs BIGINT NOT NULL DEFAULT 0,
    source        TEXT   NOT NULL,
    revision      BIGINT NOT NULL DEFAULT 0,
    received_at   BIGINT NOT NULL
);
CREATE INDEX call_records_by_account ON call_records (account_id, id);
CREATE INDEX call_records_by_did ON call_records (account_id, did_id, id);
CREATE INDEX call_records_by_start ON call_records (started_at);
