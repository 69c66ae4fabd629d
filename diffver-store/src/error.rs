//! The store's error type.

use thiserror::Error;

/// What went wrong in a store operation.
///
/// `NotFound` is also what a tenant gets for another tenant's ids: the store never
/// tells a caller that an object exists under someone else.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object for this tenant.
    #[error("{kind} not found")]
    NotFound {
        /// The kind of object (`scan`, `policy`, `api key`, ...).
        kind: &'static str,
    },
    /// The request conflicts with what is stored (an idempotency key reused with a
    /// different request, a duplicate name, a second live job for a scan).
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicted.
        what: &'static str,
    },
    /// A fenced queue operation found that the caller no longer holds the job's lease
    /// (it expired, was reaped, or another attempt took over). Nothing was written.
    #[error("job {job_id} is no longer leased to this worker at attempt {attempt}")]
    Fenced {
        /// The job.
        job_id: i64,
        /// The attempt the caller claimed.
        attempt: i32,
    },
    /// An argument the store refuses (an empty name, an over-long idempotency key, an
    /// id outside its alphabet).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A presented API key is malformed, unknown, wrong or revoked. Deliberately
    /// says no more than that.
    #[error("unauthenticated")]
    Unauthenticated,
    /// The audit chain does not verify: the row at `seq` (or the chain's tip) was
    /// edited, deleted or inserted out of band.
    #[error("audit chain of tenant is broken at seq {seq}")]
    AuditChainBroken {
        /// The first sequence number that does not verify.
        seq: i64,
    },
    /// A stored object's bytes do not have the SHA-256 they were written with.
    #[error("object {key} does not match its sha256")]
    ObjectDigestMismatch {
        /// The object key.
        key: String,
    },
    /// An object already exists at a write-once key with different content.
    #[error("object {key} already exists")]
    ObjectExists {
        /// The object key.
        key: String,
    },
    /// A stored value the store cannot read back (an unknown status string).
    #[error("corrupt stored value in {field}")]
    Corrupt {
        /// Which column.
        field: &'static str,
    },
    /// A configuration value the store cannot use (a bad object-store URL).
    #[error("configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
    },
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration error")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The object store failed.
    #[error("object store error")]
    Object(#[source] object_store::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::RowNotFound = e {
            return StoreError::NotFound { kind: "row" };
        }
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migrate(e)
    }
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> StoreError {
        StoreError::Object(e)
    }
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// Whether a database error is a foreign-key violation (an unknown tenant).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_foreign_key_violation(),
        _ => false,
    }
}
