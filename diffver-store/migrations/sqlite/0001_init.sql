-- diffver-store schema, SQLite (WAL mode, one file, one node). Times are milliseconds since the Unix
-- epoch, passed in by the caller (the store never reads the clock for data it
-- writes), so tests drive leases and retention without sleeping.
-- Never edit a landed migration: add a new one.

CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    diff_retention_days INTEGER NOT NULL CHECK (diff_retention_days >= 0),
    created_ms          BIGINT NOT NULL
);

CREATE TABLE users (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('tenant', 'admin')),
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

-- A key is `dv_<prefix>_<secret><check>`; only the prefix and HMAC-SHA256(pepper, key) are kept.
CREATE TABLE api_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hmac  BLOB NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('tenant', 'admin')),
    created_ms   BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked_ms   BIGINT,
    PRIMARY KEY (tenant_id, id)
);

-- Scan ids are unique across tenants because they name objects (`diffs/{scan_id}.patch`).
CREATE TABLE scans (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL PRIMARY KEY,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'error')),
    decision        TEXT CHECK (decision IN ('pass', 'fail', 'error')),
    diff_sha256     TEXT NOT NULL,
    diff_size       BIGINT NOT NULL,
    policy_name     TEXT,
    policy_hash     TEXT,
    source          TEXT NOT NULL,
    source_metadata TEXT NOT NULL,
    artifact_key    TEXT,
    html_key        TEXT,
    error           TEXT,
    created_ms      BIGINT NOT NULL,
    started_ms      BIGINT,
    completed_ms    BIGINT,
    UNIQUE (tenant_id, id)
);
CREATE INDEX scans_tenant_created ON scans (tenant_id, created_ms);

-- The queue. `lease_owner` + `attempt` fence completion; at most one live job per scan.
CREATE TABLE scan_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        TEXT NOT NULL,
    scan_id          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'dead_letter')),
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at_ms        BIGINT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_owner      TEXT,
    lease_expires_ms BIGINT,
    last_error       TEXT,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    finished_ms      BIGINT,
    FOREIGN KEY (tenant_id, scan_id) REFERENCES scans (tenant_id, id)
);
CREATE UNIQUE INDEX scan_jobs_one_live ON scan_jobs (scan_id) WHERE status IN ('queued', 'running');
CREATE INDEX scan_jobs_ready ON scan_jobs (tenant_id, priority, run_at_ms, id) WHERE status = 'queued';
CREATE INDEX scan_jobs_leases ON scan_jobs (lease_expires_ms) WHERE status = 'running';
CREATE INDEX scan_jobs_finished ON scan_jobs (finished_ms) WHERE status = 'completed';
CREATE INDEX scan_jobs_dead ON scan_jobs (tenant_id, id) WHERE status = 'dead_letter';


-- Round-robin state of the claim: the tenant served longest ago goes first among
-- tenants with the same number of jobs already in the batch.
CREATE TABLE queue_tenants (
    tenant_id  TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    served_seq INTEGER NOT NULL
);

CREATE TABLE findings (
    tenant_id   TEXT NOT NULL,
    scan_id     TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    rule_id     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    path        TEXT,
    line        BIGINT,
    fingerprint TEXT NOT NULL,
    blocking    INTEGER NOT NULL,
    suppressed  INTEGER NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, scan_id, ordinal),
    FOREIGN KEY (tenant_id, scan_id) REFERENCES scans (tenant_id, id)
);

CREATE TABLE policies (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    body       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    author     TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);
CREATE UNIQUE INDEX policies_one_active ON policies (tenant_id, name) WHERE active = 1;

CREATE TABLE policy_exceptions (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    path        TEXT,
    fingerprint TEXT,
    reason      TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Append-only, hash-chained per tenant; `audit_heads` holds each chain's tip so that
-- deleting the newest rows is detected too.
CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    seq         BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_time ON audit_events (tenant_id, at_ms);
CREATE INDEX audit_events_object ON audit_events (tenant_id, object_kind, object_id);

CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TABLE webhook_deliveries (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    event       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('received', 'enqueued', 'done', 'failed')),
    scan_id     TEXT,
    received_ms BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source, delivery_id)
);

CREATE TABLE diff_blobs (
    tenant_id  TEXT NOT NULL,
    scan_id    TEXT NOT NULL,
    object_key TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    deleted_ms BIGINT,
    PRIMARY KEY (tenant_id, scan_id),
    FOREIGN KEY (tenant_id, scan_id) REFERENCES scans (tenant_id, id)
);
CREATE INDEX diff_blobs_live ON diff_blobs (created_ms) WHERE deleted_ms IS NULL;

CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    scan_id     TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);

