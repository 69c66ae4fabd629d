//! The store's domain types: ids, times, records and the inputs of each operation.

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// A point in time: milliseconds since the Unix epoch. The store takes every time it
/// records as an argument, so callers (and tests) own the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    /// The system clock, for callers that have no clock of their own. A clock before
    /// 1970 reads as 0.
    pub fn from_system_clock() -> Millis {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Millis(ms)
    }

    /// This time plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// This time minus `days` days (saturating).
    pub fn minus_days(self, days: i64) -> Millis {
        Millis(self.0.saturating_sub(days.saturating_mul(86_400_000)))
    }
}

/// `len` random bytes as lower-case hex, from the operating system's generator.
pub(crate) fn random_hex(len: usize) -> Result<String> {
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).map_err(|_| StoreError::Config {
        what: "the operating system's random generator failed".to_owned(),
    })?;
    Ok(hex(&buf))
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn check_id(field: &'static str, s: &str, max: usize) -> Result<()> {
    let ok_first = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    let ok_rest = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok_first || !ok_rest || s.len() > max {
        return Err(StoreError::Invalid {
            field,
            reason: "must match [A-Za-z0-9][A-Za-z0-9._-]* and be short",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates an id (`[A-Za-z0-9][A-Za-z0-9._-]*`, bounded length).
            ///
            /// # Errors
            ///
            /// [`StoreError::Invalid`] for anything else.
            pub fn new(s: impl Into<String>) -> Result<$name> {
                let s = s.into();
                check_id($field, &s, $max)?;
                Ok($name(s))
            }

            /// A fresh random id (128 bits).
            ///
            /// # Errors
            ///
            /// [`StoreError::Config`] if the system's random generator fails.
            pub fn generate() -> Result<$name> {
                Ok($name(format!("{}{}", $prefix, random_hex(16)?)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps text read back from the database, which was validated when written.
            pub(crate) fn from_db(s: String) -> $name {
                $name(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A tenant's id. Every tenant-scoped operation takes one, so a query without it
    /// does not compile.
    TenantId, "tenant id", 64, "t-"
);
id_type!(
    /// A scan's id, unique across tenants (it names `diffs/{scan_id}.patch`); the same
    /// alphabet as `diffver_core`'s scan ids.
    ScanId, "scan id", 128, "scn-"
);
id_type!(
    /// A queue worker's id, recorded as a job's lease owner.
    WorkerId, "worker id", 128, "w-"
);

/// Generates a string-valued enum with `as_str` and `parse`.
macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Reads a spelling given by a caller (`None` if it is not one).
            pub fn from_name(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Reads the stored spelling.
            pub(crate) fn parse(s: &str) -> Result<$name> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(StoreError::Corrupt { field: $field }),
                }
            }
        }
    };
}

str_enum!(
    /// What an API key or user may do.
    Role, "role" {
        /// The tenant's own resources.
        Tenant = "tenant",
        /// Administration, including re-driving dead jobs.
        Admin = "admin",
    }
);
str_enum!(
    /// A scan's lifecycle state.
    ScanStatus, "scans.status" {
        /// Waiting for a worker.
        Queued = "queued",
        /// A worker holds its job.
        Running = "running",
        /// Finished with a verdict.
        Completed = "completed",
        /// Finished without a verdict (internal failure, or the job died).
        Error = "error",
    }
);
str_enum!(
    /// A scan's verdict.
    Decision, "scans.decision" {
        /// No blocking findings.
        Pass = "pass",
        /// Blocking findings.
        Fail = "fail",
        /// No verdict could be reached.
        Error = "error",
    }
);
str_enum!(
    /// A queue job's state.
    JobStatus, "scan_jobs.status" {
        /// Ready at `run_at`.
        Queued = "queued",
        /// Leased to a worker until its lease expires.
        Running = "running",
        /// Done (kept until pruned).
        Completed = "completed",
        /// Out of attempts; kept and visible until an admin re-drives it.
        DeadLetter = "dead_letter",
    }
);
str_enum!(
    /// A webhook delivery's state.
    DeliveryStatus, "webhook_deliveries.status" {
        /// Seen, not yet acted on.
        Received = "received",
        /// Its work is durably enqueued.
        Enqueued = "enqueued",
        /// Done.
        Done = "done",
        /// Given up.
        Failed = "failed",
    }
);

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Raw diffs older than this many days are deleted by retention (0: never kept past a run).
    pub diff_retention_days: i32,
    /// When it was created.
    pub created: Millis,
    /// What the service lets the tenant do and how it decides on internal faults.
    pub settings: TenantSettings,
    /// The key id of the deployment signing key that signs this tenant's artifacts
    /// (`None`: the deployment's default signer).
    pub signer: Option<String>,
}

str_enum!(
    /// What the verdict is when a scan fails for an internal reason (storage, a crash).
    OnErrorMode, "tenants.on_error" {
        /// What the tenant's policy says (`on_error` of the policy).
        Policy = "policy",
        /// The change may proceed: the verdict is `error` but does not block.
        FailOpen = "fail_open",
        /// The change is blocked.
        FailClosed = "fail_closed",
    }
);

/// A tenant's service settings, set by an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSettings {
    /// The verdict on internal faults.
    pub on_error: OnErrorMode,
    /// Requests per second one API process accepts from the tenant.
    pub rate_per_sec: i32,
    /// Scans queued or running at once.
    pub max_in_flight: i32,
}

impl Default for TenantSettings {
    fn default() -> TenantSettings {
        TenantSettings {
            on_error: OnErrorMode::Policy,
            rate_per_sec: 50,
            max_in_flight: 1000,
        }
    }
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id.
    pub id: String,
    /// E-mail address, unique within the tenant.
    pub email: String,
    /// Its role.
    pub role: Role,
    /// When it was created.
    pub created: Millis,
}

/// An API key's stored record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id (also the public prefix in the key text).
    pub id: String,
    /// A label.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created: Millis,
    /// When it last verified (updated at most once a minute).
    pub last_used: Option<Millis>,
    /// When it was revoked.
    pub revoked: Option<Millis>,
    /// The user it belongs to (`None` for keys made before users owned keys).
    pub user_id: Option<String>,
    /// When it stops working (a rotated key's overlap window).
    pub expires: Option<Millis>,
}

/// A freshly created key: the record and the key text, which is returned this once
/// and never stored.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    /// The record.
    pub key: ApiKey,
    /// The full key to hand to the caller (`dv_<id>_<secret><check>`).
    pub secret: String,
}

/// Who a verified API key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's tenant.
    pub tenant_id: TenantId,
    /// The key's id.
    pub key_id: String,
    /// The key's role.
    pub role: Role,
    /// The user the key belongs to.
    pub user_id: Option<String>,
    /// When the key expires, if it does.
    pub expires: Option<Millis>,
}

/// An `Idempotency-Key` and the SHA-256 fingerprint of the canonical request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    key: String,
    fingerprint: String,
}

impl Idempotency {
    /// A key (1–255 visible ASCII characters) with the canonical bytes of its request.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for an empty, over-long or non-printable key.
    pub fn new(key: impl Into<String>, canonical_request: &[u8]) -> Result<Idempotency> {
        let key = key.into();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Invalid {
                field: "idempotency key",
                reason: "must be 1-255 visible ASCII characters",
            });
        }
        Ok(Idempotency {
            key,
            fingerprint: sha256_hex(canonical_request),
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Everything needed to create a scan and enqueue its job.
#[derive(Debug, Clone)]
pub struct NewScan {
    /// The scan's id (chosen by the caller, who writes `diffs/{id}.patch` under it).
    pub id: ScanId,
    /// SHA-256 (hex) of the raw diff.
    pub diff_sha256: String,
    /// Size of the raw diff in bytes.
    pub diff_size: i64,
    /// Object key of the raw diff.
    pub diff_object_key: String,
    /// The policy the scan is to be evaluated under.
    pub policy_name: Option<String>,
    /// Where the diff came from (`api`, `github`, ...).
    pub source: String,
    /// Source metadata as JSON text (repository, pull request, head sha, ...).
    pub source_metadata: String,
    /// Queue priority (lower runs first within a tenant).
    pub priority: i16,
    /// Attempts before the job is dead-lettered.
    pub max_attempts: i32,
    /// The tenant baseline whose fingerprints the scan suppresses, if any.
    pub baseline_name: Option<String>,
    /// The request's idempotency key, if it had one.
    pub idempotency: Option<Idempotency>,
}

/// A stored scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id.
    pub id: ScanId,
    /// Lifecycle state.
    pub status: ScanStatus,
    /// The verdict, once completed.
    pub decision: Option<Decision>,
    /// SHA-256 (hex) of the raw diff.
    pub diff_sha256: String,
    /// Raw diff size in bytes.
    pub diff_size: i64,
    /// Policy name requested.
    pub policy_name: Option<String>,
    /// Hash of the policy actually applied.
    pub policy_hash: Option<String>,
    /// Where the diff came from.
    pub source: String,
    /// Source metadata (JSON text).
    pub source_metadata: String,
    /// Signed artifact's object key.
    pub artifact_key: Option<String>,
    /// HTML view's object key.
    pub html_key: Option<String>,
    /// Internal error text for an `error` scan (never shown to API clients).
    pub error: Option<String>,
    /// Created.
    pub created: Millis,
    /// First claimed.
    pub started: Option<Millis>,
    /// Completed.
    pub completed: Option<Millis>,
    /// Whether the finished scan blocks the change.
    pub blocking: Option<bool>,
    /// The baseline the scan names.
    pub baseline_name: Option<String>,
}

/// The result of [`crate::Store::create_scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreatedScan {
    /// A new scan, with its job enqueued.
    Created(Scan),
    /// The idempotency key was seen before with the same request: the original scan.
    Existing(Scan),
}

impl CreatedScan {
    /// The scan, new or original.
    pub fn scan(&self) -> &Scan {
        match self {
            CreatedScan::Created(s) | CreatedScan::Existing(s) => s,
        }
    }
}

/// One finding of a completed scan, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    /// Rule or check id.
    pub rule_id: String,
    /// Severity name.
    pub severity: String,
    /// Display path.
    pub path: Option<String>,
    /// Line number.
    pub line: Option<i64>,
    /// Content-based fingerprint.
    pub fingerprint: String,
    /// Whether it blocks under the policy.
    pub blocking: bool,
    /// Whether an exception or baseline suppressed it.
    pub suppressed: bool,
    /// Escaped message.
    pub message: String,
}

/// A stored finding with its position in the scan's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Position in the scan's finding order (0-based), the page cursor.
    pub ordinal: i32,
    /// The finding.
    pub finding: NewFinding,
}

/// A page of results and the cursor of the next page, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Pass to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// What a worker produced for a scan, stored with its fenced completion.
#[derive(Debug, Clone, Default)]
pub struct ScanOutputs {
    /// The verdict (`None` stores the scan as `error` with `error` set).
    pub decision: Option<Decision>,
    /// Hash of the policy applied.
    pub policy_hash: Option<String>,
    /// Whether the verdict blocks the change (`fail`, or an `error` that is not
    /// fail-open).
    pub blocking: Option<bool>,
    /// Signed artifact's object key.
    pub artifact_key: Option<String>,
    /// HTML view's object key.
    pub html_key: Option<String>,
    /// Internal error text.
    pub error: Option<String>,
    /// Findings in their total order.
    pub findings: Vec<NewFinding>,
}

/// A named baseline of a tenant (diffver's baseline JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// The baseline JSON.
    pub body: String,
    /// SHA-256 of the body.
    pub sha256: String,
    /// How many fingerprints it holds.
    pub entries: i32,
    /// Who stored this version.
    pub author: String,
    /// When.
    pub updated: Millis,
}

/// One version of a named policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// Its version (1, 2, ...).
    pub version: i32,
    /// The policy document.
    pub body: String,
    /// Its canonical hash.
    pub hash: String,
    /// Who stored it.
    pub author: String,
    /// Whether this is the active version of the name.
    pub active: bool,
    /// When it was stored.
    pub created: Millis,
}

/// A policy exception (suppression) with an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyException {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id.
    pub id: String,
    /// The rule it applies to.
    pub rule_id: String,
    /// Path it is limited to.
    pub path: Option<String>,
    /// Fingerprint it is limited to.
    pub fingerprint: Option<String>,
    /// Why.
    pub reason: String,
    /// Who.
    pub author: String,
    /// Created.
    pub created: Millis,
    /// Expires.
    pub expires: Millis,
}

/// The fields of a new exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewException {
    /// The rule it applies to.
    pub rule_id: String,
    /// Path it is limited to.
    pub path: Option<String>,
    /// Fingerprint it is limited to.
    pub fingerprint: Option<String>,
    /// Why.
    pub reason: String,
    /// Who.
    pub author: String,
    /// Expires.
    pub expires: Millis,
}

/// An audit event as appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// Who (a key id, user id or `system`).
    pub actor: String,
    /// What (`policy.activate`, `api_key.revoke`, `diff.delete`, ...).
    pub action: String,
    /// Kind of object.
    pub object_kind: String,
    /// The object's id.
    pub object_id: String,
    /// Details (JSON text).
    pub detail: String,
}

/// A stored audit event with its place in the tenant's hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Position in the chain (1, 2, ...).
    pub seq: i64,
    /// When.
    pub at: Millis,
    /// The event.
    pub event: NewAuditEvent,
    /// Hash of the previous event (64 zeros for the first).
    pub prev_hash: String,
    /// `sha256(prev_hash, seq, at, fields)`.
    pub hash: String,
}

/// Which audit events to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// From (inclusive).
    pub from: Millis,
    /// To (exclusive).
    pub to: Millis,
    /// Only events on this object (kind, id).
    pub object: Option<(String, String)>,
    /// At most this many (oldest first).
    pub limit: i64,
}

/// The verified tip of a tenant's audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Events in the chain.
    pub seq: i64,
    /// Hash of the last event (64 zeros for an empty chain).
    pub hash: String,
}

/// A webhook delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The sender (`github`).
    pub source: String,
    /// The sender's delivery id (`X-GitHub-Delivery`).
    pub delivery_id: String,
    /// Event name.
    pub event: String,
    /// State.
    pub status: DeliveryStatus,
    /// The scan it led to.
    pub scan_id: Option<ScanId>,
    /// First seen.
    pub received: Millis,
    /// Last changed.
    pub updated: Millis,
}

/// A raw diff's object reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffBlob {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its scan.
    pub scan_id: ScanId,
    /// Object key.
    pub object_key: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Stored.
    pub created: Millis,
    /// Deleted by retention.
    pub deleted: Option<Millis>,
}
