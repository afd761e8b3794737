-- Every write through the admin API: who (operator key name), what, when, the
-- target and the values before and after, written in the change's transaction.
-- Append-only: the triggers refuse any UPDATE or DELETE, whatever the interface.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_target ON audit_log (target, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The first answer to a keyed admin money request, replayed on retries.
CREATE TABLE admin_idempotency_keys (
    actor           TEXT   NOT NULL,
    idem_key        TEXT   NOT NULL,
    fingerprint     TEXT   NOT NULL,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (actor, idem_key)
);
