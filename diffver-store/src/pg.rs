//! The Postgres backend: the production store that many API and worker processes share.
//!
//! Every tenant-scoped operation runs in a transaction that first sets
//! `diffver.tenant_id` (`set_config(..., true)`, local to the transaction), so the
//! row-level security policies of the schema filter on the same tenant as the query's
//! own `tenant_id = $1`. Queue and maintenance operations set `diffver.scope =
//! 'system'` instead. See `docs/store.md`.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres};

use crate::apikey::Pepper;
use crate::error::{Result, StoreError, is_foreign_key_violation, is_unique_violation};
use crate::model::{
    ApiKey, AuditEvent, AuditHead, AuditQuery, Baseline, CreatedApiKey, CreatedScan, Delivery,
    DeliveryStatus, DiffBlob, Finding, JobStatus, Millis, NewAuditEvent, NewException, NewScan,
    Page, Policy, PolicyException, Principal, Role, Scan, ScanId, ScanOutputs, ScanStatus, Tenant,
    TenantId, TenantSettings, User, WorkerId,
};
use crate::ops::{json_str, shared_helpers, shared_ops};
use crate::queue::{
    Backoff, ClaimOptions, CompletionReport, FailOutcome, Job, Lease, QueueStats, ReapReport,
};
use crate::rows::{
    ApiKeyRow, AuditRow, BaselineRow, BlobRow, DeliveryRow, ExceptionRow, FindingRow, JobRow,
    LeaseRow, PolicyRow, ScanRow, TenantRow, UserRow, apikey_cols, audit_cols, baseline_cols,
    blob_cols, delivery_cols, exception_cols, finding_cols, job_cols, policy_cols, scan_cols,
    tenant_cols,
};
use crate::store::Store;
use crate::waiter::JobWaiter;

type Tx = sqlx::Transaction<'static, Postgres>;

/// The notification channel a new job is announced on.
pub(crate) const CHANNEL: &str = "diffver_scan_jobs";

/// How to connect to Postgres.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user@host:port/database`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// `synchronous_commit` for the store's sessions. `true` (the default) is
    /// Postgres's own default; `false` trades the last few hundred milliseconds of
    /// commits on a server crash for throughput (a deployment choice: a lost claim is
    /// reaped, a lost completion re-runs the scan).
    pub synchronous_commit: bool,
    /// The key-hash pepper.
    pub pepper: Pepper,
    /// How long a caller waits for a connection before the store answers with an
    /// error: while Postgres is down, requests fail fast (the API answers 503) instead
    /// of hanging.
    pub acquire_timeout: std::time::Duration,
}

impl PgConfig {
    /// Defaults: 10 connections, synchronous commit on, a 3-second acquire timeout.
    pub fn new(url: impl Into<String>, pepper: Pepper) -> PgConfig {
        PgConfig {
            url: url.into(),
            max_connections: 10,
            synchronous_commit: true,
            pepper,
            acquire_timeout: std::time::Duration::from_secs(3),
        }
    }
}

/// The Postgres store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    pepper: Arc<Pepper>,
}

impl PgStore {
    /// Connects a pool.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] for a bad URL, [`StoreError::Database`] if it cannot connect.
    pub async fn connect(config: PgConfig) -> Result<PgStore> {
        let mut opts = PgConnectOptions::from_str(&config.url)
            .map_err(|_| StoreError::Config {
                what: "not a Postgres URL".to_owned(),
            })?
            .disable_statement_logging();
        if !config.synchronous_commit {
            opts = opts.options([("synchronous_commit", "off")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(opts)
            .await?;
        Ok(PgStore {
            pool,
            pepper: Arc::new(config.pepper),
        })
    }

    /// Applies the Postgres migrations (`migrations/postgres`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Migrate`].
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The pool, for callers that run their own statements (tests, operations tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A waiter woken by `LISTEN diffver_scan_jobs` on a dedicated connection (not
    /// through a transaction-mode pooler), for workers to sleep between claims.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the listening connection fails.
    pub async fn job_waiter(&self) -> Result<JobWaiter> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(JobWaiter::pg(listener))
    }

    async fn tenant_tx(&self, tenant: &TenantId) -> Result<Tx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('diffver.tenant_id', $1, true)")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn system_tx(&self) -> Result<Tx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('diffver.scope', 'system', true)")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Reads take the same scoped transactions on Postgres (MVCC readers never wait).
    async fn tenant_read_tx(&self, tenant: &TenantId) -> Result<Tx> {
        self.tenant_tx(tenant).await
    }

    async fn system_read_tx(&self) -> Result<Tx> {
        self.system_tx().await
    }

    /// New jobs are announced by the `scan_jobs_notify` trigger.
    fn jobs_enqueued(&self) {}

    async fn insert_findings(tx: &mut Tx, done: &[(&Lease, &ScanOutputs)]) -> Result<()> {
        let n: usize = done.iter().map(|(_, o)| o.findings.len()).sum();
        if n == 0 {
            return Ok(());
        }
        let mut tenant = Vec::with_capacity(n);
        let mut scan = Vec::with_capacity(n);
        let mut ordinal = Vec::with_capacity(n);
        let mut rule = Vec::with_capacity(n);
        let mut severity = Vec::with_capacity(n);
        let mut path = Vec::with_capacity(n);
        let mut line = Vec::with_capacity(n);
        let mut fingerprint = Vec::with_capacity(n);
        let mut blocking = Vec::with_capacity(n);
        let mut suppressed = Vec::with_capacity(n);
        let mut message = Vec::with_capacity(n);
        for (lease, outputs) in done {
            for (i, f) in outputs.findings.iter().enumerate() {
                tenant.push(lease.tenant_id.as_str());
                scan.push(lease.scan_id.as_str());
                ordinal.push(i32::try_from(i).unwrap_or(i32::MAX));
                rule.push(f.rule_id.as_str());
                severity.push(f.severity.as_str());
                path.push(f.path.as_deref());
                line.push(f.line);
                fingerprint.push(f.fingerprint.as_str());
                blocking.push(f.blocking);
                suppressed.push(f.suppressed);
                message.push(f.message.as_str());
            }
        }
        sqlx::query(
            "INSERT INTO findings (tenant_id, scan_id, ordinal, rule_id, severity, path, line, \
             fingerprint, blocking, suppressed, message) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int4[], $4::text[], $5::text[], \
             $6::text[], $7::int8[], $8::text[], $9::bool[], $10::bool[], $11::text[])",
        )
        .bind(tenant)
        .bind(scan)
        .bind(ordinal)
        .bind(rule)
        .bind(severity)
        .bind(path)
        .bind(line)
        .bind(fingerprint)
        .bind(blocking)
        .bind(suppressed)
        .bind(message)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    shared_helpers!();
}

/// The claim: per tenant, the first `$2` ready jobs (locked, skipping rows other
/// claimers hold); across tenants, interleaved by rank within the tenant, then by the
/// tenant served longest ago (`queue_tenants`), so one tenant's backlog cannot push
/// another tenant's job past the first places of the next claim. The served stamp
/// skips rows a concurrent claim is stamping (that claim serves the same tenant now),
/// so claims never wait on each other, and cannot deadlock, over it.
const CLAIM: &str = "\
WITH cand AS (
    SELECT j.id, j.tenant_id, j.priority, j.run_at_ms, COALESCE(q.served_seq, 0) AS served
    FROM tenants t
    LEFT JOIN queue_tenants q ON q.tenant_id = t.id
    CROSS JOIN LATERAL (
        SELECT id, tenant_id, priority, run_at_ms FROM scan_jobs
        WHERE tenant_id = t.id AND status = 'queued' AND run_at_ms <= $1
        ORDER BY priority, run_at_ms, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) j
), ranked AS (
    SELECT id, tenant_id, served,
           row_number() OVER (PARTITION BY tenant_id ORDER BY priority, run_at_ms, id) AS rn
    FROM cand
), pick AS (
    SELECT id FROM ranked ORDER BY rn, served, tenant_id LIMIT $2
), claimed AS (
    UPDATE scan_jobs j
    SET status = 'running', lease_owner = $3, lease_expires_ms = $1 + $4,
        attempt = j.attempt + 1, updated_ms = $1
    FROM pick WHERE j.id = pick.id
    RETURNING j.id, j.tenant_id, j.scan_id, j.attempt, j.max_attempts, j.lease_expires_ms
), started AS (
    UPDATE scans s SET status = 'running', started_ms = COALESCE(s.started_ms, $1)
    FROM claimed c WHERE s.tenant_id = c.tenant_id AND s.id = c.scan_id
), served AS (
    UPDATE queue_tenants q SET served_seq = nextval('queue_serve_seq')
    WHERE q.tenant_id IN (
        SELECT tenant_id FROM queue_tenants
        WHERE tenant_id IN (SELECT tenant_id FROM claimed)
        FOR UPDATE SKIP LOCKED
    )
)
SELECT id, tenant_id, scan_id, attempt, max_attempts, lease_expires_ms FROM claimed";

impl Store for PgStore {
    shared_ops!("FOR UPDATE SKIP LOCKED");
    crate::github::github_ops!();

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn waiter(&self) -> Result<JobWaiter> {
        self.job_waiter().await
    }

    async fn notice_listener(&self) -> Result<Option<crate::waiter::NoticeListener>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen_all(crate::waiter::NOTICE_CHANNELS).await?;
        Ok(Some(crate::waiter::NoticeListener::pg(listener)))
    }

    async fn claim(&self, opts: &ClaimOptions, now: Millis) -> Result<Vec<Lease>> {
        let mut tx = self.system_tx().await?;
        let rows: Vec<LeaseRow> = sqlx::query_as(CLAIM)
            .bind(now.0)
            .bind(opts.max_jobs.clamp(1, 1000))
            .bind(opts.worker.as_str())
            .bind(opts.lease_ms.max(1))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_lease(&opts.worker))
            .collect())
    }

    async fn complete_batch(
        &self,
        done: Vec<(Lease, ScanOutputs)>,
        now: Millis,
    ) -> Result<CompletionReport> {
        if done.is_empty() {
            return Ok(CompletionReport::default());
        }
        let mut tx = self.system_tx().await?;
        let ids: Vec<i64> = done.iter().map(|(l, _)| l.job_id).collect();
        let attempts: Vec<i32> = done.iter().map(|(l, _)| l.attempt).collect();
        let owners: Vec<&str> = done.iter().map(|(l, _)| l.owner.as_str()).collect();
        let tenants: Vec<&str> = done.iter().map(|(l, _)| l.tenant_id.as_str()).collect();
        let completed: Vec<(i64, i32)> = sqlx::query_as(
            "UPDATE scan_jobs j SET status = 'completed', finished_ms = $1, updated_ms = $1, \
             lease_expires_ms = NULL \
             FROM UNNEST($2::int8[], $3::int4[], $4::text[], $5::text[]) AS c(id, attempt, owner, tenant_id) \
             WHERE j.id = c.id AND j.tenant_id = c.tenant_id AND j.attempt = c.attempt \
             AND j.lease_owner = c.owner AND j.status = 'running' AND j.lease_expires_ms > $1 \
             RETURNING j.id, j.attempt",
        )
        .bind(now.0)
        .bind(&ids)
        .bind(&attempts)
        .bind(&owners)
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await?;
        // A batch may hold a stale lease and the current one of the same job: match both.
        let ok: HashSet<(i64, i32)> = completed.into_iter().collect();
        let mut report = CompletionReport::default();
        let mut kept: Vec<(&Lease, &ScanOutputs)> = Vec::with_capacity(ok.len());
        for (lease, outputs) in &done {
            if ok.contains(&(lease.job_id, lease.attempt)) {
                report.completed.push(lease.job_id);
                kept.push((lease, outputs));
            } else {
                report.fenced.push(lease.job_id);
            }
        }
        if !kept.is_empty() {
            let status: Vec<&str> = kept
                .iter()
                .map(|(_, o)| {
                    if o.decision.is_some() {
                        ScanStatus::Completed.as_str()
                    } else {
                        ScanStatus::Error.as_str()
                    }
                })
                .collect();
            sqlx::query(
                "UPDATE scans s SET status = c.status, decision = c.decision, \
                 policy_hash = c.policy_hash, artifact_key = c.artifact_key, html_key = c.html_key, \
                 error = c.error, completed_ms = $1, blocking = c.blocking \
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::text[], $9::text[], $10::bool[]) AS c(tenant_id, id, status, decision, policy_hash, \
                 artifact_key, html_key, error, blocking) \
                 WHERE s.tenant_id = c.tenant_id AND s.id = c.id",
            )
            .bind(now.0)
            .bind(kept.iter().map(|(l, _)| l.tenant_id.as_str()).collect::<Vec<_>>())
            .bind(kept.iter().map(|(l, _)| l.scan_id.as_str()).collect::<Vec<_>>())
            .bind(status)
            .bind(kept.iter().map(|(_, o)| o.decision.map(|d| d.as_str())).collect::<Vec<_>>())
            .bind(kept.iter().map(|(_, o)| o.policy_hash.as_deref()).collect::<Vec<_>>())
            .bind(kept.iter().map(|(_, o)| o.artifact_key.as_deref()).collect::<Vec<_>>())
            .bind(kept.iter().map(|(_, o)| o.html_key.as_deref()).collect::<Vec<_>>())
            .bind(kept.iter().map(|(_, o)| o.error.as_deref()).collect::<Vec<_>>())
            .bind(kept.iter().map(|(_, o)| o.blocking).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            Self::insert_findings(&mut tx, &kept).await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}
