-- The service's additions (issue "diffver-server"): per-tenant settings, keys that
-- belong to a user and may expire (rotation with an overlap window).
-- Never edit a landed migration: add a new one.

-- on_error: 'policy' (what the tenant's policy says), 'fail_open' or 'fail_closed' for
-- internal faults. rate_per_sec and max_in_flight bound what one tenant may ask of the
-- service (requests per second per API process; scans queued or running).
ALTER TABLE tenants ADD COLUMN on_error TEXT NOT NULL DEFAULT 'policy'
    CHECK (on_error IN ('policy', 'fail_open', 'fail_closed'));
ALTER TABLE tenants ADD COLUMN rate_per_sec INTEGER NOT NULL DEFAULT 50 CHECK (rate_per_sec > 0);
ALTER TABLE tenants ADD COLUMN max_in_flight INTEGER NOT NULL DEFAULT 1000 CHECK (max_in_flight > 0);

ALTER TABLE api_keys ADD COLUMN user_id TEXT;
ALTER TABLE api_keys ADD COLUMN expires_ms BIGINT;

-- Whether a finished scan blocks the change: `fail` always does; an `error` does unless
-- the tenant or its policy is fail-open. Recorded so a caller need not open the artifact.
ALTER TABLE scans ADD COLUMN blocking BOOLEAN;

-- The API counts a tenant's scans in flight on every submission (its `max_in_flight`).
CREATE INDEX scans_in_flight ON scans (tenant_id) WHERE status IN ('queued', 'running');

-- Baselines: named sets of accepted finding fingerprints (diffver's baseline JSON),
-- one current version per name; a scan may name one.
CREATE TABLE baselines (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    entries    INTEGER NOT NULL,
    author     TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE scans ADD COLUMN baseline_name TEXT;
ALTER TABLE baselines ENABLE ROW LEVEL SECURITY;
ALTER TABLE baselines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON baselines
    USING (tenant_id = current_setting('diffver.tenant_id', true)
           OR current_setting('diffver.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('diffver.tenant_id', true)
           OR current_setting('diffver.scope', true) = 'system');
