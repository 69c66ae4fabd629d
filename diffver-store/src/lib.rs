//! Persistence for the diffver service: Postgres and SQLite behind one [`Store`]
//! trait, object storage for diffs and artifacts ([`Objects`]), and a durable,
//! fenced, tenant-fair scan queue in the `scan_jobs` table.
//!
//! Everything tenant-owned is reached through a [`TenantId`] argument; another
//! tenant's ids give [`StoreError::NotFound`]. On Postgres, row-level security keyed
//! on the per-transaction setting `diffver.tenant_id` is a second wall. Times are
//! passed in ([`Millis`]), so leases, backoff and retention are driven by the caller's
//! clock. `docs/store.md` describes the schema, the queue and the benchmark.
//!
//! ```no_run
//! # async fn demo() -> Result<(), diffver_store::StoreError> {
//! use diffver_store::{
//!     ClaimOptions, Millis, NewScan, Objects, Pepper, ScanId, ScanOutputs, SqliteStore, Store,
//!     WorkerId, diff_key,
//! };
//! let store = SqliteStore::open("diffver.db".as_ref(), Pepper::new([7u8; 32])?).await?;
//! store.migrate().await?;
//! let objects = Objects::from_url("memory://", Vec::<(String, String)>::new())?;
//! let now = Millis::from_system_clock();
//! let tenant = store.create_tenant("acme", 30, now).await?;
//!
//! let id = ScanId::generate()?;
//! let diff = objects.put_once(&diff_key(&id), "diff --git a/x b/x\n".into()).await?;
//! let scan = NewScan {
//!     id, diff_sha256: diff.sha256, diff_size: diff.size, diff_object_key: diff.key,
//!     policy_name: None, source: "api".into(), source_metadata: "{}".into(),
//!     priority: 0, max_attempts: 5, baseline_name: None, idempotency: None,
//! };
//! store.create_scan(&tenant.id, scan, now).await?;
//!
//! let opts = ClaimOptions { worker: WorkerId::generate()?, max_jobs: 8, lease_ms: 30_000 };
//! for lease in store.claim(&opts, now).await? {
//!     store.complete(&lease, ScanOutputs::default(), now).await?;
//! }
//! # Ok(()) }
//! ```

mod apikey;
mod audit;
mod error;
mod github;
mod model;
mod objects;
mod ops;
mod pg;
mod queue;
mod retention;
mod rows;
mod sqlite;
mod store;
mod waiter;

pub use apikey::{KEY_PREFIX, Pepper, looks_like_key};
pub use error::{Result, StoreError};
pub use github::{Accepted, CheckPublish, Installation, NewCheck, Published};
pub use model::{
    ApiKey, AuditEvent, AuditHead, AuditQuery, Baseline, CreatedApiKey, CreatedScan, Decision,
    Delivery, DeliveryStatus, DiffBlob, Finding, Idempotency, JobStatus, Millis, NewAuditEvent,
    NewException, NewFinding, NewScan, OnErrorMode, Page, Policy, PolicyException, Principal, Role,
    Scan, ScanId, ScanOutputs, ScanStatus, Tenant, TenantId, TenantSettings, User, WorkerId,
    sha256_hex,
};
pub use objects::{Objects, StoredObject, artifact_html_key, artifact_json_key, diff_key};
pub use pg::{PgConfig, PgStore};
pub use queue::{
    Backoff, ClaimOptions, CompletionReport, FailOutcome, Job, Lease, QueueStats, ReapReport,
};
pub use retention::{RetentionReport, run_retention};
pub use sqlite::SqliteStore;
pub use store::Store;
pub use waiter::{JobWaiter, Notice, NoticeListener};
