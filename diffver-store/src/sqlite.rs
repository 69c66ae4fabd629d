//! The SQLite backend: the embedded single-node default, one file in WAL mode.
//!
//! SQLite has no row-level security; tenant scoping rests on the `tenant_id` argument
//! in every query alone. Write transactions begin `IMMEDIATE`, so they queue on the
//! database's write lock (with a busy timeout) instead of failing on upgrade; the queue
//! needs no row locks because writers are serial.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;

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

type Tx = sqlx::Transaction<'static, Sqlite>;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    pepper: Arc<Pepper>,
    wake: Arc<Notify>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` in WAL mode.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if it cannot be opened.
    pub async fn open(path: &Path, pepper: Pepper) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Ok(SqliteStore {
            pool,
            pepper: Arc::new(pepper),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Applies the SQLite migrations (`migrations/sqlite`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Migrate`].
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The pool, for callers that run their own statements (tests, operations tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A waiter woken when this process enqueues a job (a single node has no other
    /// writers).
    pub fn job_waiter(&self) -> JobWaiter {
        JobWaiter::local(Arc::clone(&self.wake))
    }

    async fn tenant_tx(&self, _tenant: &TenantId) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn system_tx(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A read-only transaction: a deferred `BEGIN` that never takes the write lock,
    /// so in WAL mode it runs beside the writer on its own snapshot.
    async fn tenant_read_tx(&self, _tenant: &TenantId) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn system_read_tx(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    fn jobs_enqueued(&self) {
        self.wake.notify_waiters();
    }

    async fn insert_findings(tx: &mut Tx, done: &[(&Lease, &ScanOutputs)]) -> Result<()> {
        for (lease, outputs) in done {
            for (i, f) in outputs.findings.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO findings (tenant_id, scan_id, ordinal, rule_id, severity, path, \
                     line, fingerprint, blocking, suppressed, message) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(lease.tenant_id.as_str())
                .bind(lease.scan_id.as_str())
                .bind(i32::try_from(i).unwrap_or(i32::MAX))
                .bind(&f.rule_id)
                .bind(&f.severity)
                .bind(f.path.as_deref())
                .bind(f.line)
                .bind(&f.fingerprint)
                .bind(f.blocking)
                .bind(f.suppressed)
                .bind(&f.message)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    shared_helpers!();
}

/// The claim: ready jobs ranked within their tenant, interleaved across tenants by
/// rank and then by the tenant served longest ago (the same order as Postgres).
const CLAIM: &str = "\
UPDATE scan_jobs
SET status = 'running', lease_owner = $3, lease_expires_ms = $1 + $4,
    attempt = attempt + 1, updated_ms = $1
WHERE id IN (
    SELECT id FROM (
        SELECT j.id, j.tenant_id, COALESCE(q.served_seq, 0) AS served,
               row_number() OVER (PARTITION BY j.tenant_id ORDER BY j.priority, j.run_at_ms, j.id) AS rn
        FROM scan_jobs j LEFT JOIN queue_tenants q ON q.tenant_id = j.tenant_id
        WHERE j.status = 'queued' AND j.run_at_ms <= $1
    )
    ORDER BY rn, served, tenant_id
    LIMIT $2
)
RETURNING id, tenant_id, scan_id, attempt, max_attempts, lease_expires_ms";

impl Store for SqliteStore {
    shared_ops!("");
    crate::github::github_ops!();

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn waiter(&self) -> Result<JobWaiter> {
        Ok(self.job_waiter())
    }

    async fn notice_listener(&self) -> Result<Option<crate::waiter::NoticeListener>> {
        Ok(None)
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
        let mut served: Vec<&str> = rows.iter().map(|r| r.tenant_id.as_str()).collect();
        served.sort_unstable();
        served.dedup();
        for r in &rows {
            sqlx::query(
                "UPDATE scans SET status = 'running', started_ms = COALESCE(started_ms, $3) \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(&r.tenant_id)
            .bind(&r.scan_id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        }
        for tenant in served {
            sqlx::query(
                "INSERT INTO queue_tenants (tenant_id, served_seq) \
                 VALUES ($1, (SELECT COALESCE(MAX(served_seq), 0) + 1 FROM queue_tenants)) \
                 ON CONFLICT (tenant_id) DO UPDATE SET served_seq = excluded.served_seq",
            )
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        }
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
        let mut tx = self.system_tx().await?;
        let mut report = CompletionReport::default();
        for (lease, outputs) in &done {
            // The fenced update is `complete_tx`'s first write: a fenced job has
            // written nothing, so the others' writes can commit.
            match Self::complete_tx(&mut tx, lease, outputs, now).await {
                Ok(()) => report.completed.push(lease.job_id),
                Err(StoreError::Fenced { .. }) => report.fenced.push(lease.job_id),
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
