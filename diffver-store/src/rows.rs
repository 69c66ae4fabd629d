//! Row types shared by both backends and their conversion into domain types.
//!
//! Column lists are macros so that queries are `concat!`ed into `&'static str`s.

use sqlx::FromRow;

use crate::error::{Result, StoreError};
use crate::model::{
    ApiKey, AuditEvent, Decision, Delivery, DeliveryStatus, DiffBlob, Finding, JobStatus, Millis,
    NewAuditEvent, NewFinding, OnErrorMode, Policy, PolicyException, Role, Scan, ScanId,
    ScanStatus, Tenant, TenantId, TenantSettings, User, WorkerId,
};
use crate::queue::{Job, Lease};

macro_rules! tenant_cols {
    () => {
        "id, name, diff_retention_days, created_ms, on_error, rate_per_sec, max_in_flight, signer"
    };
}
pub(crate) use tenant_cols;
macro_rules! scan_cols {
    () => {
        "tenant_id, id, status, decision, diff_sha256, diff_size, \
    policy_name, policy_hash, source, source_metadata, artifact_key, html_key, error, \
    created_ms, started_ms, completed_ms, blocking, baseline_name"
    };
}
pub(crate) use scan_cols;
macro_rules! job_cols {
    () => {
        "id, tenant_id, scan_id, status, attempt, max_attempts, \
    run_at_ms, lease_owner, last_error"
    };
}
pub(crate) use job_cols;
macro_rules! policy_cols {
    () => {
        "tenant_id, name, version, body, hash, author, active, created_ms"
    };
}
pub(crate) use policy_cols;
macro_rules! exception_cols {
    () => {
        "tenant_id, id, rule_id, path, fingerprint, reason, author, created_ms, expires_ms"
    };
}
pub(crate) use exception_cols;
macro_rules! audit_cols {
    () => {
        "tenant_id, seq, at_ms, actor, action, object_kind, \
    object_id, detail, prev_hash, hash"
    };
}
pub(crate) use audit_cols;
macro_rules! apikey_cols {
    () => {
        "tenant_id, id, name, role, created_ms, last_used_ms, revoked_ms, user_id, expires_ms"
    };
}
pub(crate) use apikey_cols;
macro_rules! delivery_cols {
    () => {
        "tenant_id, source, delivery_id, event, status, scan_id, received_ms, updated_ms"
    };
}
pub(crate) use delivery_cols;
macro_rules! blob_cols {
    () => {
        "tenant_id, scan_id, object_key, sha256, size, created_ms, deleted_ms"
    };
}
pub(crate) use blob_cols;
macro_rules! finding_cols {
    () => {
        "ordinal, rule_id, severity, path, line, fingerprint, blocking, suppressed, message"
    };
}
pub(crate) use finding_cols;

#[derive(FromRow)]
pub(crate) struct TenantRow {
    id: String,
    name: String,
    diff_retention_days: i32,
    created_ms: i64,
    on_error: String,
    rate_per_sec: i32,
    max_in_flight: i32,
    signer: Option<String>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Tenant> {
        Ok(Tenant {
            id: TenantId::from_db(r.id),
            name: r.name,
            diff_retention_days: r.diff_retention_days,
            created: Millis(r.created_ms),
            settings: TenantSettings {
                on_error: OnErrorMode::parse(&r.on_error)?,
                rate_per_sec: r.rate_per_sec,
                max_in_flight: r.max_in_flight,
            },
            signer: r.signer,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct UserRow {
    tenant_id: String,
    id: String,
    email: String,
    role: String,
    created_ms: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            tenant_id: TenantId::from_db(r.tenant_id),
            id: r.id,
            email: r.email,
            role: Role::parse(&r.role)?,
            created: Millis(r.created_ms),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ScanRow {
    tenant_id: String,
    id: String,
    status: String,
    decision: Option<String>,
    diff_sha256: String,
    diff_size: i64,
    policy_name: Option<String>,
    policy_hash: Option<String>,
    source: String,
    source_metadata: String,
    artifact_key: Option<String>,
    html_key: Option<String>,
    error: Option<String>,
    created_ms: i64,
    started_ms: Option<i64>,
    completed_ms: Option<i64>,
    blocking: Option<bool>,
    baseline_name: Option<String>,
}

impl TryFrom<ScanRow> for Scan {
    type Error = StoreError;
    fn try_from(r: ScanRow) -> Result<Scan> {
        Ok(Scan {
            tenant_id: TenantId::from_db(r.tenant_id),
            id: ScanId::from_db(r.id),
            status: ScanStatus::parse(&r.status)?,
            decision: r.decision.as_deref().map(Decision::parse).transpose()?,
            diff_sha256: r.diff_sha256,
            diff_size: r.diff_size,
            policy_name: r.policy_name,
            policy_hash: r.policy_hash,
            source: r.source,
            source_metadata: r.source_metadata,
            artifact_key: r.artifact_key,
            html_key: r.html_key,
            error: r.error,
            created: Millis(r.created_ms),
            started: r.started_ms.map(Millis),
            completed: r.completed_ms.map(Millis),
            blocking: r.blocking,
            baseline_name: r.baseline_name,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct JobRow {
    id: i64,
    tenant_id: String,
    scan_id: String,
    status: String,
    attempt: i32,
    max_attempts: i32,
    run_at_ms: i64,
    lease_owner: Option<String>,
    last_error: Option<String>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Job> {
        Ok(Job {
            id: r.id,
            tenant_id: TenantId::from_db(r.tenant_id),
            scan_id: ScanId::from_db(r.scan_id),
            status: JobStatus::parse(&r.status)?,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            run_at: Millis(r.run_at_ms),
            lease_owner: r.lease_owner.map(WorkerId::from_db),
            last_error: r.last_error,
        })
    }
}

/// The columns a claim returns.
#[derive(FromRow)]
pub(crate) struct LeaseRow {
    pub(crate) id: i64,
    pub(crate) tenant_id: String,
    pub(crate) scan_id: String,
    pub(crate) attempt: i32,
    pub(crate) max_attempts: i32,
    pub(crate) lease_expires_ms: i64,
}

impl LeaseRow {
    pub(crate) fn into_lease(self, owner: &WorkerId) -> Lease {
        Lease {
            job_id: self.id,
            tenant_id: TenantId::from_db(self.tenant_id),
            scan_id: ScanId::from_db(self.scan_id),
            owner: owner.clone(),
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            expires: Millis(self.lease_expires_ms),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct FindingRow {
    ordinal: i32,
    rule_id: String,
    severity: String,
    path: Option<String>,
    line: Option<i64>,
    fingerprint: String,
    blocking: bool,
    suppressed: bool,
    message: String,
}

impl From<FindingRow> for Finding {
    fn from(r: FindingRow) -> Finding {
        Finding {
            ordinal: r.ordinal,
            finding: NewFinding {
                rule_id: r.rule_id,
                severity: r.severity,
                path: r.path,
                line: r.line,
                fingerprint: r.fingerprint,
                blocking: r.blocking,
                suppressed: r.suppressed,
                message: r.message,
            },
        }
    }
}

#[derive(FromRow)]
pub(crate) struct PolicyRow {
    tenant_id: String,
    name: String,
    version: i32,
    body: String,
    hash: String,
    author: String,
    active: bool,
    created_ms: i64,
}

impl From<PolicyRow> for Policy {
    fn from(r: PolicyRow) -> Policy {
        Policy {
            tenant_id: TenantId::from_db(r.tenant_id),
            name: r.name,
            version: r.version,
            body: r.body,
            hash: r.hash,
            author: r.author,
            active: r.active,
            created: Millis(r.created_ms),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct ExceptionRow {
    tenant_id: String,
    id: String,
    rule_id: String,
    path: Option<String>,
    fingerprint: Option<String>,
    reason: String,
    author: String,
    created_ms: i64,
    expires_ms: i64,
}

impl From<ExceptionRow> for PolicyException {
    fn from(r: ExceptionRow) -> PolicyException {
        PolicyException {
            tenant_id: TenantId::from_db(r.tenant_id),
            id: r.id,
            rule_id: r.rule_id,
            path: r.path,
            fingerprint: r.fingerprint,
            reason: r.reason,
            author: r.author,
            created: Millis(r.created_ms),
            expires: Millis(r.expires_ms),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct AuditRow {
    tenant_id: String,
    seq: i64,
    at_ms: i64,
    actor: String,
    action: String,
    object_kind: String,
    object_id: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> AuditEvent {
        AuditEvent {
            tenant_id: TenantId::from_db(r.tenant_id),
            seq: r.seq,
            at: Millis(r.at_ms),
            event: NewAuditEvent {
                actor: r.actor,
                action: r.action,
                object_kind: r.object_kind,
                object_id: r.object_id,
                detail: r.detail,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct ApiKeyRow {
    tenant_id: String,
    id: String,
    name: String,
    role: String,
    created_ms: i64,
    last_used_ms: Option<i64>,
    revoked_ms: Option<i64>,
    user_id: Option<String>,
    expires_ms: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<ApiKey> {
        Ok(ApiKey {
            tenant_id: TenantId::from_db(r.tenant_id),
            id: r.id,
            name: r.name,
            role: Role::parse(&r.role)?,
            created: Millis(r.created_ms),
            last_used: r.last_used_ms.map(Millis),
            revoked: r.revoked_ms.map(Millis),
            user_id: r.user_id,
            expires: r.expires_ms.map(Millis),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct DeliveryRow {
    tenant_id: String,
    source: String,
    delivery_id: String,
    event: String,
    status: String,
    scan_id: Option<String>,
    received_ms: i64,
    updated_ms: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Delivery> {
        Ok(Delivery {
            tenant_id: TenantId::from_db(r.tenant_id),
            source: r.source,
            delivery_id: r.delivery_id,
            event: r.event,
            status: DeliveryStatus::parse(&r.status)?,
            scan_id: r.scan_id.map(ScanId::from_db),
            received: Millis(r.received_ms),
            updated: Millis(r.updated_ms),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct BlobRow {
    tenant_id: String,
    scan_id: String,
    object_key: String,
    sha256: String,
    size: i64,
    created_ms: i64,
    deleted_ms: Option<i64>,
}

impl From<BlobRow> for DiffBlob {
    fn from(r: BlobRow) -> DiffBlob {
        DiffBlob {
            tenant_id: TenantId::from_db(r.tenant_id),
            scan_id: ScanId::from_db(r.scan_id),
            object_key: r.object_key,
            sha256: r.sha256,
            size: r.size,
            created: Millis(r.created_ms),
            deleted: r.deleted_ms.map(Millis),
        }
    }
}

macro_rules! baseline_cols {
    () => {
        "tenant_id, name, body, sha256, entries, author, updated_ms"
    };
}
pub(crate) use baseline_cols;

#[derive(FromRow)]
pub(crate) struct BaselineRow {
    tenant_id: String,
    name: String,
    body: String,
    sha256: String,
    entries: i32,
    author: String,
    updated_ms: i64,
}

impl From<BaselineRow> for crate::model::Baseline {
    fn from(r: BaselineRow) -> crate::model::Baseline {
        crate::model::Baseline {
            tenant_id: TenantId::from_db(r.tenant_id),
            name: r.name,
            body: r.body,
            sha256: r.sha256,
            entries: r.entries,
            author: r.author,
            updated: Millis(r.updated_ms),
        }
    }
}
