//! Queue types: leases, retry backoff and the reports of queue maintenance.
//!
//! The queue's contract, shared by both backends (see `docs/store.md`):
//! a claim moves up to `n` ready jobs to `running` in one statement, sets the lease
//! owner and expiry and increments `attempt`; only the holder of the current lease
//! (owner + attempt, not yet expired) may heartbeat, fail or complete a job; the
//! reaper returns expired leases to `queued` after a backoff, or to `dead_letter`
//! once `max_attempts` are used.

use sha2::{Digest, Sha256};

use crate::model::{JobStatus, Millis, ScanId, TenantId, WorkerId};

/// A worker's hold on one job: what fenced operations present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: i64,
    /// The job's tenant.
    pub tenant_id: TenantId,
    /// The job's scan.
    pub scan_id: ScanId,
    /// Who holds it.
    pub owner: WorkerId,
    /// Which attempt this is (1 for the first claim).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When the lease runs out unless extended.
    pub expires: Millis,
}

/// A job as stored (for listings: dead letters, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its scan.
    pub scan_id: ScanId,
    /// State.
    pub status: JobStatus,
    /// Attempts made.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Not claimable before.
    pub run_at: Millis,
    /// Current or last lease owner.
    pub lease_owner: Option<WorkerId>,
    /// The last failure's text.
    pub last_error: Option<String>,
}

/// Capped exponential backoff with deterministic jitter.
///
/// The delay before retry `attempt` (1-based) is `min(cap, base · 2^(attempt-1))`,
/// scaled by a factor in `[1 - jitter, 1 + jitter]` derived from the job id and the
/// attempt, so retries of many jobs spread out yet every run is reproducible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay in milliseconds.
    pub base_ms: i64,
    /// Largest delay in milliseconds.
    pub cap_ms: i64,
    /// Relative jitter, 0.0 to 1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base_ms: 1_000,
            cap_ms: 10 * 60 * 1_000,
            jitter: 0.1,
        }
    }
}

impl Backoff {
    /// The delay before the retry after failed attempt `attempt` of job `job_id`.
    pub fn delay_ms(&self, job_id: i64, attempt: i32) -> i64 {
        let base = self.base_ms.max(0);
        let cap = self.cap_ms.max(base);
        let shift = u32::try_from(attempt.saturating_sub(1).clamp(0, 62)).unwrap_or(62);
        let raw = base.checked_mul(1i64 << shift).unwrap_or(cap).min(cap);
        let mut h = Sha256::new();
        h.update(job_id.to_be_bytes());
        h.update(attempt.to_be_bytes());
        let d = h.finalize();
        let unit = f64::from(u16::from_be_bytes([d[0], d[1]])) / f64::from(u16::MAX); // 0..=1
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * unit - 1.0);
        // The product is within [0, 2 * cap]; `as` saturates, never panics.
        (raw as f64 * factor).round() as i64
    }
}

/// What a fenced failure did to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailOutcome {
    /// Back to `queued`, claimable from this time.
    Retry {
        /// When.
        run_at: Millis,
    },
    /// Out of attempts: `dead_letter`, the scan marked `error`.
    DeadLetter,
}

/// What one reaper pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Expired leases returned to `queued`.
    pub requeued: u64,
    /// Expired leases that used the last attempt, now `dead_letter`.
    pub dead_lettered: u64,
}

/// Jobs by status across tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs waiting (including those in backoff).
    pub queued: i64,
    /// Jobs leased to a worker.
    pub running: i64,
    /// Jobs that used up their attempts.
    pub dead_letter: i64,
    /// When the oldest queued job was created.
    pub oldest_queued: Option<Millis>,
}

/// What a batched completion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompletionReport {
    /// Jobs completed (their outputs stored).
    pub completed: Vec<i64>,
    /// Jobs refused because the lease was no longer the caller's (nothing stored).
    pub fenced: Vec<i64>,
}

/// Queue settings for claims.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimOptions {
    /// The claiming worker.
    pub worker: WorkerId,
    /// Most jobs to claim in one statement.
    pub max_jobs: i64,
    /// Lease length in milliseconds.
    pub lease_ms: i64,
}
