-- The outbox (issue 14): one row per state change, written in the change's own
-- transaction, so an event exists if and only if the change committed. `seq`
-- orders events of one ordering key (a number, or `account:<id>`): the change
-- holds that row's lock when it inserts its event.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT   NOT NULL UNIQUE,
    event_type    TEXT   NOT NULL,
    account_id    BIGINT,
    ordering_key  TEXT   NOT NULL,
    data_json     TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX events_by_key ON events (ordering_key, seq);
CREATE INDEX events_by_time ON events (created_at);

-- Where events are posted: an account's own endpoints, or (account_id NULL)
-- the operator's, which receive every account's events.
CREATE TABLE webhook_endpoints (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      BIGINT,
    url             TEXT   NOT NULL,
    secret          TEXT   NOT NULL,
    -- ",number.assigned,balance.credited," or "*" for every type.
    event_types     TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'disabled', 'deleted')),
    disabled_reason TEXT,
    failing_since   BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, id);

-- One row per (event, endpoint), made in the event's transaction. A pending
-- delivery is claimed with a lease; the earliest pending delivery of an
-- (endpoint, ordering key) blocks the later ones, which keeps order.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id      BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    event_seq        BIGINT NOT NULL REFERENCES events (seq),
    ordering_key     TEXT   NOT NULL,
    status           TEXT   NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_key
    ON webhook_deliveries (endpoint_id, ordering_key, event_seq);

-- Every attempt, kept 30 days, for the owner to see what happened.
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BIGINT NOT NULL,
    endpoint_id  BIGINT NOT NULL,
    event_id     TEXT   NOT NULL,
    event_type   TEXT   NOT NULL,
    outcome      TEXT   NOT NULL,
    status_code  BIGINT,
    latency_ms   BIGINT NOT NULL,
    error        TEXT,
    attempted_at BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (attempted_at);
