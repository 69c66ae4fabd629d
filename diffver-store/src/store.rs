//! The trait both backends implement, and that the conformance suite runs against.

use std::future::Future;

use crate::error::Result;
use crate::github::{Accepted, CheckPublish, Installation, NewCheck};
use crate::model::{
    ApiKey, AuditEvent, AuditHead, AuditQuery, Baseline, CreatedApiKey, CreatedScan, Delivery,
    DeliveryStatus, DiffBlob, Finding, Millis, NewAuditEvent, NewException, NewScan, Page, Policy,
    PolicyException, Principal, Role, Scan, ScanId, ScanOutputs, Tenant, TenantId, TenantSettings,
    User,
};
use crate::queue::{
    Backoff, ClaimOptions, CompletionReport, FailOutcome, Job, Lease, QueueStats, ReapReport,
};
use crate::waiter::JobWaiter;

/// The persistence surface of the service.
///
/// Every tenant-scoped method takes a [`TenantId`] and returns
/// [`StoreError::NotFound`](crate::StoreError::NotFound) for another tenant's ids.
/// Methods that span tenants by nature (the queue, retention's scan, key lookup,
/// pruning) take none and are named for it. Every method is one transaction.
pub trait Store: Send + Sync {
    // ---- the deployment ----

    /// Checks that the database answers (a readiness probe).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;

    /// A waiter for idle workers: woken when jobs are enqueued (`LISTEN/NOTIFY` on
    /// Postgres, an in-process signal on SQLite); polling stays the floor.
    fn waiter(&self) -> impl Future<Output = Result<JobWaiter>> + Send;

    // ---- tenants and users (administration) ----

    /// A listener for scans finished and API keys changed by other processes
    /// (Postgres); `None` where the backend has no cross-process notifications (SQLite).
    fn notice_listener(
        &self,
    ) -> impl Future<Output = Result<Option<crate::waiter::NoticeListener>>> + Send;

    /// Creates a tenant.
    fn create_tenant(
        &self,
        name: &str,
        diff_retention_days: i32,
        now: Millis,
    ) -> impl Future<Output = Result<Tenant>> + Send;

    /// A tenant.
    fn get_tenant(&self, tenant: &TenantId) -> impl Future<Output = Result<Tenant>> + Send;

    /// Jobs by status across tenants, and the oldest queued job's creation time (for
    /// the queue-depth and queue-age gauges).
    fn queue_stats(&self) -> impl Future<Output = Result<QueueStats>> + Send;

    /// Every tenant (administration; spans tenants).
    fn list_tenants(&self) -> impl Future<Output = Result<Vec<Tenant>>> + Send;

    /// Sets a tenant's service settings and audits the change.
    fn set_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: TenantSettings,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Tenant>> + Send;

    /// Sets (or with `None` clears) the key id of the signing key for the tenant's
    /// artifacts, and audits the change.
    fn set_tenant_signer(
        &self,
        tenant: &TenantId,
        signer: Option<&str>,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Tenant>> + Send;

    /// How many of the tenant's scans are queued or running.
    fn scans_in_flight(&self, tenant: &TenantId) -> impl Future<Output = Result<i64>> + Send;

    /// Sets how many days raw diffs are kept.
    fn set_diff_retention(
        &self,
        tenant: &TenantId,
        days: i32,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Creates a user.
    fn create_user(
        &self,
        tenant: &TenantId,
        email: &str,
        role: Role,
        now: Millis,
    ) -> impl Future<Output = Result<User>> + Send;

    /// A user.
    fn get_user(&self, tenant: &TenantId, id: &str) -> impl Future<Output = Result<User>> + Send;

    /// The tenant's users, oldest first.
    fn list_users(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<User>>> + Send;

    // ---- API keys ----

    /// Creates a key, owned by `user_id` if given (an admin key needs an admin user);
    /// the returned secret is never stored and cannot be read again.
    #[allow(clippy::too_many_arguments)]
    fn create_api_key(
        &self,
        tenant: &TenantId,
        user_id: Option<&str>,
        name: &str,
        role: Role,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<CreatedApiKey>> + Send;

    /// Replaces a key: a new key with the same user, name and role, while the old one
    /// keeps working for `overlap_ms` more.
    fn rotate_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        overlap_ms: i64,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<CreatedApiKey>> + Send;

    /// Looks a key up by its public prefix (administration; spans tenants).
    fn find_api_key(&self, prefix: &str) -> impl Future<Output = Result<ApiKey>> + Send;

    /// The tenant's keys.
    fn list_api_keys(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<ApiKey>>> + Send;

    /// Revokes a key.
    fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Verifies a presented key in constant time and records its use. Not scoped: the
    /// key is how the tenant is found.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unauthenticated`](crate::StoreError::Unauthenticated) for a
    /// malformed, unknown, wrong or revoked key.
    fn verify_api_key(
        &self,
        presented: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Principal>> + Send;

    // ---- scans ----

    /// Creates a scan, its diff record and its queue job in one transaction, honouring
    /// the idempotency key: the same key with the same request returns the original
    /// scan; with a different request,
    /// [`StoreError::Conflict`](crate::StoreError::Conflict).
    fn create_scan(
        &self,
        tenant: &TenantId,
        scan: NewScan,
        now: Millis,
    ) -> impl Future<Output = Result<CreatedScan>> + Send;

    /// A scan.
    fn get_scan(&self, tenant: &TenantId, id: &ScanId)
    -> impl Future<Output = Result<Scan>> + Send;

    /// A scan's raw diff record.
    fn get_diff_blob(
        &self,
        tenant: &TenantId,
        id: &ScanId,
    ) -> impl Future<Output = Result<DiffBlob>> + Send;

    /// A page of a scan's findings in their stored order; `cursor` is the previous
    /// page's `next`.
    fn page_findings(
        &self,
        tenant: &TenantId,
        id: &ScanId,
        cursor: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Finding>>> + Send;

    // ---- queue (workers; spans tenants) ----

    /// Claims up to `opts.max_jobs` ready jobs, round-robin across tenants, and marks
    /// their scans `running`.
    fn claim(
        &self,
        opts: &ClaimOptions,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<Lease>>> + Send;

    /// Extends a lease (fenced).
    fn heartbeat(
        &self,
        lease: &Lease,
        lease_ms: i64,
        now: Millis,
    ) -> impl Future<Output = Result<Lease>> + Send;

    /// Stores a worker's outputs and completes the job, in one transaction, only if the
    /// caller still holds the lease.
    ///
    /// # Errors
    ///
    /// [`StoreError::Fenced`](crate::StoreError::Fenced) (nothing stored) otherwise.
    fn complete(
        &self,
        lease: &Lease,
        outputs: ScanOutputs,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// [`Store::complete`] for many jobs in one transaction; each job is fenced on its
    /// own and the report says which were refused.
    fn complete_batch(
        &self,
        done: Vec<(Lease, ScanOutputs)>,
        now: Millis,
    ) -> impl Future<Output = Result<CompletionReport>> + Send;

    /// Records a failed attempt (fenced): back to `queued` after a backoff, or
    /// `dead_letter` (scan `error`) when the attempts are used up.
    fn fail(
        &self,
        lease: &Lease,
        error: &str,
        backoff: &Backoff,
        now: Millis,
    ) -> impl Future<Output = Result<FailOutcome>> + Send;

    /// Returns up to `limit` expired leases to the queue (or the dead letters).
    fn reap_expired(
        &self,
        backoff: &Backoff,
        limit: i64,
        now: Millis,
    ) -> impl Future<Output = Result<ReapReport>> + Send;

    /// A scan's jobs, oldest first.
    fn list_jobs(
        &self,
        tenant: &TenantId,
        scan: &ScanId,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// The tenant's dead-lettered jobs.
    fn list_dead_letters(&self, tenant: &TenantId)
    -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Re-drives a dead-lettered job: queued again with a fresh attempt budget.
    fn redrive(
        &self,
        tenant: &TenantId,
        job_id: i64,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Job>> + Send;

    /// Deletes completed jobs finished before `before`; returns how many.
    fn prune_finished_jobs(&self, before: Millis) -> impl Future<Output = Result<u64>> + Send;

    // ---- idempotency and retention (maintenance; span tenants) ----

    /// Deletes idempotency records created before `before`; returns how many.
    fn prune_idempotency(&self, before: Millis) -> impl Future<Output = Result<u64>> + Send;

    /// Raw diffs past their tenant's retention at `now`, not yet deleted.
    fn expired_diffs(
        &self,
        now: Millis,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DiffBlob>>> + Send;

    /// Marks a raw diff deleted and audits it.
    fn mark_diff_deleted(
        &self,
        tenant: &TenantId,
        scan: &ScanId,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- policies ----

    /// Stores a new version of a named policy (inactive).
    fn create_policy_version(
        &self,
        tenant: &TenantId,
        name: &str,
        body: &str,
        hash: &str,
        author: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Policy>> + Send;

    /// One version of a policy.
    fn get_policy(
        &self,
        tenant: &TenantId,
        name: &str,
        version: i32,
    ) -> impl Future<Output = Result<Policy>> + Send;

    /// The active version of a policy.
    fn active_policy(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Policy>> + Send;

    /// Every version of every policy of the tenant.
    fn list_policies(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<Policy>>> + Send;

    /// Makes `version` the active version of `name` (deactivating the previous one).
    fn activate_policy(
        &self,
        tenant: &TenantId,
        name: &str,
        version: i32,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Policy>> + Send;

    /// Deletes an inactive version.
    fn delete_policy_version(
        &self,
        tenant: &TenantId,
        name: &str,
        version: i32,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- baselines ----

    /// Stores (or replaces) a named baseline and audits it.
    #[allow(clippy::too_many_arguments)]
    fn put_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
        body: &str,
        entries: i32,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Baseline>> + Send;

    /// A baseline.
    fn get_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Baseline>> + Send;

    /// The tenant's baselines, by name.
    fn list_baselines(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Baseline>>> + Send;

    /// Deletes a baseline and audits it.
    fn delete_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- exceptions ----

    /// Creates an exception.
    fn create_exception(
        &self,
        tenant: &TenantId,
        exception: NewException,
        now: Millis,
    ) -> impl Future<Output = Result<PolicyException>> + Send;

    /// An exception.
    fn get_exception(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<PolicyException>> + Send;

    /// The tenant's exceptions; with `active_at`, only those not expired then.
    fn list_exceptions(
        &self,
        tenant: &TenantId,
        active_at: Option<Millis>,
    ) -> impl Future<Output = Result<Vec<PolicyException>>> + Send;

    /// Changes an exception's reason and expiry.
    fn update_exception(
        &self,
        tenant: &TenantId,
        id: &str,
        reason: &str,
        expires: Millis,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<PolicyException>> + Send;

    /// Deletes an exception.
    fn delete_exception(
        &self,
        tenant: &TenantId,
        id: &str,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- audit ----

    /// Appends an event to the tenant's chain.
    fn append_audit(
        &self,
        tenant: &TenantId,
        event: NewAuditEvent,
        now: Millis,
    ) -> impl Future<Output = Result<AuditEvent>> + Send;

    /// Events in a time range, optionally on one object, oldest first.
    fn query_audit(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditEvent>>> + Send;

    /// Verifies the tenant's whole chain and returns its tip.
    ///
    /// # Errors
    ///
    /// [`StoreError::AuditChainBroken`](crate::StoreError::AuditChainBroken) if a row
    /// was edited, deleted or inserted out of band.
    fn verify_audit_chain(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<AuditHead>> + Send;

    // ---- webhook deliveries ----

    /// Records a delivery; `true` if it is new, `false` for a redelivery of a known id.
    fn record_delivery(
        &self,
        tenant: &TenantId,
        source: &str,
        delivery_id: &str,
        event: &str,
        now: Millis,
    ) -> impl Future<Output = Result<(Delivery, bool)>> + Send;

    /// Moves a delivery to `status`, optionally naming the scan it led to.
    fn set_delivery_status(
        &self,
        tenant: &TenantId,
        source: &str,
        delivery_id: &str,
        status: DeliveryStatus,
        scan: Option<&ScanId>,
        now: Millis,
    ) -> impl Future<Output = Result<Delivery>> + Send;

    // ---- GitHub (see `crate::github`) ----

    /// Records an App installation (spans tenants); `tenant` maps it, `None` keeps an
    /// existing mapping (or leaves a new one unmapped). Clears a previous uninstall.
    fn upsert_installation(
        &self,
        installation_id: i64,
        account: &str,
        tenant: Option<&TenantId>,
        now: Millis,
    ) -> impl Future<Output = Result<Installation>> + Send;

    /// Maps a known installation to a tenant (administration) and audits it.
    fn map_installation(
        &self,
        installation_id: i64,
        tenant: &TenantId,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Installation>> + Send;

    /// Marks an installation uninstalled.
    fn delete_installation(
        &self,
        installation_id: i64,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// An installation (spans tenants: the webhook learns the tenant from it).
    fn get_installation(
        &self,
        installation_id: i64,
    ) -> impl Future<Output = Result<Installation>> + Send;

    /// Every installation.
    fn list_installations(&self) -> impl Future<Output = Result<Vec<Installation>>> + Send;

    /// Records a GitHub delivery and its outbox row in one transaction. A redelivery of
    /// a known delivery id adds nothing; nor does a commit that already has a check,
    /// unless `check.rerun`.
    fn accept_github_event(
        &self,
        tenant: &TenantId,
        delivery_id: &str,
        event: &str,
        check: NewCheck,
        now: Millis,
    ) -> impl Future<Output = Result<Accepted>> + Send;

    /// Leases up to `limit` due outbox rows for `lease_ms` (spans tenants).
    fn claim_publishes(
        &self,
        limit: i64,
        lease_ms: i64,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<CheckPublish>>> + Send;

    /// Saves a publisher's progress on a leased row (fenced on its lease), resetting
    /// its failure count; `release` gives the lease up, due again at `next_attempt`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) when the lease was lost.
    fn save_publish(
        &self,
        p: &CheckPublish,
        release: bool,
        next_attempt: Millis,
        now: Millis,
    ) -> impl Future<Output = Result<CheckPublish>> + Send;

    /// Records a failed publish (fenced): due again at `retry_at`, or dead after
    /// `max_attempts` consecutive failures.
    fn fail_publish(
        &self,
        p: &CheckPublish,
        error: &str,
        retry_at: Millis,
        max_attempts: i32,
        now: Millis,
    ) -> impl Future<Output = Result<CheckPublish>> + Send;

    /// The tenant's outbox rows, newest first (only the dead ones if `dead_only`).
    fn list_publishes(
        &self,
        tenant: &TenantId,
        dead_only: bool,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<CheckPublish>>> + Send;

    /// Makes a dead row due again with a fresh failure budget, and audits it.
    fn redrive_publish(
        &self,
        tenant: &TenantId,
        id: &str,
        actor: &str,
        now: Millis,
    ) -> impl Future<Output = Result<CheckPublish>> + Send;
}
