-- diffver-store schema, Postgres 15+. Times are milliseconds since the Unix
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
    secret_hmac  BYTEA NOT NULL,
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
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    scan_id          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'dead_letter')),
    priority         SMALLINT NOT NULL DEFAULT 0,
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
-- A hot queue table needs vacuum to keep up with its dead tuples.
ALTER TABLE scan_jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);

CREATE FUNCTION diffver_notify_scan_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('diffver_scan_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER scan_jobs_notify AFTER INSERT ON scan_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION diffver_notify_scan_jobs();

-- Round-robin state of the claim: the tenant served longest ago goes first among
-- tenants with the same number of jobs already in the batch.
CREATE SEQUENCE queue_serve_seq;
CREATE TABLE queue_tenants (
    tenant_id  TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    served_seq BIGINT NOT NULL
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
    blocking    BOOLEAN NOT NULL,
    suppressed  BOOLEAN NOT NULL,
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
    active     BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);
CREATE UNIQUE INDEX policies_one_active ON policies (tenant_id, name) WHERE active;

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

CREATE FUNCTION diffver_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION diffver_audit_append_only();

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

-- Row-level security, the second wall behind `tenant_id` in every query. The store
-- sets `diffver.tenant_id` per transaction (set_config(..., true)); queue, retention
-- and key-lookup paths that cross tenants set `diffver.scope = 'system'` instead.
-- An unset setting matches nothing. FORCE makes the table owner subject to it too;
-- superusers and BYPASSRLS roles are never subject to it.
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'api_keys', 'scans', 'scan_jobs', 'findings', 'policies',
        'policy_exceptions', 'audit_events', 'audit_heads', 'webhook_deliveries', 'diff_blobs',
        'idempotency_keys', 'queue_tenants']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = current_setting('diffver.tenant_id', true)
                   OR current_setting('diffver.scope', true) = 'system')
            WITH CHECK (tenant_id = current_setting('diffver.tenant_id', true)
                   OR current_setting('diffver.scope', true) = 'system')$p$, t);
    END LOOP;
END
$$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('diffver.tenant_id', true)
           OR current_setting('diffver.scope', true) = 'system')
    WITH CHECK (id = current_setting('diffver.tenant_id', true)
           OR current_setting('diffver.scope', true) = 'system');
