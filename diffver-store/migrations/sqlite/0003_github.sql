-- The GitHub integration (issue "GitHub"): which App installation belongs to which
-- tenant, and the check-run outbox the publisher drains.

-- An installation of the GitHub App. `tenant_id` is NULL until it is mapped (by
-- DIFFVER_GITHUB_TENANT when the installation event arrives, or by an admin).
CREATE TABLE github_installations (
    installation_id BIGINT PRIMARY KEY,
    tenant_id       TEXT REFERENCES tenants (id),
    account         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    deleted_ms      BIGINT
);

-- One check run to publish for one head SHA: written with the webhook delivery in one
-- transaction; the publisher creates the check run, fetches the diff, creates the scan
-- and follows the scan's status to `completed`, saving each step. `lease_seq` fences
-- a publisher whose lease ran out; `attempts` counts consecutive failures (reset by
-- progress), `failures` all of them; `dead` rows wait for an admin's redrive.
CREATE TABLE github_checks (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    installation_id  BIGINT NOT NULL,
    repository       TEXT NOT NULL,
    pull_number      BIGINT,
    head_sha         TEXT NOT NULL,
    base_sha         TEXT,
    rerun            BOOLEAN NOT NULL DEFAULT FALSE,
    delivery_id      TEXT NOT NULL,
    event            TEXT NOT NULL,
    check_run_id     BIGINT,
    scan_id          TEXT,
    fetch_error      TEXT,
    published        TEXT NOT NULL DEFAULT 'none'
        CHECK (published IN ('none', 'queued', 'in_progress', 'completed')),
    annotations_sent INTEGER NOT NULL DEFAULT 0,
    done             BOOLEAN NOT NULL DEFAULT FALSE,
    dead             BOOLEAN NOT NULL DEFAULT FALSE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_ms  BIGINT NOT NULL,
    lease_seq        BIGINT NOT NULL DEFAULT 0,
    lease_until_ms   BIGINT NOT NULL DEFAULT 0,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL
);
CREATE INDEX github_checks_due ON github_checks (next_attempt_ms) WHERE done = FALSE AND dead = FALSE;
CREATE INDEX github_checks_tenant ON github_checks (tenant_id, created_ms);
-- One check per head commit, whichever event asks first (a push to a pull request
-- sends both pull_request.synchronize and check_suite.requested); a re-run request is a
-- new check for the same commit.
CREATE UNIQUE INDEX github_checks_head ON github_checks (tenant_id, repository, head_sha)
    WHERE rerun = FALSE;

-- SQLite has no row-level security: the tenant_id argument of every query is the wall.
