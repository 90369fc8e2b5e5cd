-- firegrid's shared incident store, version 1 (DESIGN §3 "Incident store"). Applied once, in one
-- transaction under pg_advisory_xact_lock, by the first instance that starts (alerting/src/store/postgres/migrate.rs).
-- The same tables as the SQLite store (alerting/src/store/schema.rs, version 4), plus what only a
-- shared store needs: station availability, partition leases and the one-incident-per-alarm index.

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    class TEXT NOT NULL,
    severity TEXT NOT NULL,
    county TEXT NOT NULL,
    township TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    first_alarm_ms BIGINT NOT NULL,
    opened_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    -- The incident as JSON (the same document as SQLite's `doc`).
    doc TEXT NOT NULL
);
CREATE INDEX incidents_status ON incidents (status);
CREATE INDEX incidents_opened ON incidents (opened_at_ms DESC, id DESC);
-- One open incident per household-or-device key, class and first alarm: two writers that open an
-- incident from the same alarm (a deposed leader and its successor) cannot both commit. The first
-- alarm is part of the key because the correlator opens a second incident of a household whose
-- open one went quiet for longer than correlation.household_window_seconds (DESIGN §5).
CREATE UNIQUE INDEX incidents_one_open_per_alarm ON incidents (correlation_key, class, first_alarm_ms)
    WHERE status NOT IN ('resolved', 'false_alarm', 'rectified');

CREATE TABLE evidence (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    seq BIGINT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    values_json TEXT NOT NULL,
    UNIQUE (incident_id, device_id, ts_ms, reason)
);

CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    severity TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX audit_incident ON audit (incident_id, id);

CREATE TABLE id_counters (
    key TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);

CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    delivered_at_ms BIGINT,
    last_error TEXT,
    abandoned_at_ms BIGINT,
    tier TEXT NOT NULL DEFAULT '',
    seq BIGINT NOT NULL DEFAULT 0,
    received_at_ms BIGINT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_ms, id) WHERE delivered_at_ms IS NULL AND abandoned_at_ms IS NULL;
CREATE INDEX outbox_incident ON outbox (incident_id, target);

CREATE TABLE dispatch_state (
    incident_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);

CREATE TABLE rule_state (
    device_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);

-- Station availability set at run time (API or MQTT status topic), shared by every instance:
-- routing and escalation of any partition read it (alerting/src/dispatch/availability.rs).
CREATE TABLE station_availability (
    station_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('available', 'busy', 'off_duty')),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Partition leases (the lease, leader election and fencing logic own it; this migration only
-- creates it). A write transaction fenced by (partition, epoch) checks its row first.
CREATE TABLE partition_leases (
    partition TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
