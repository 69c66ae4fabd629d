//! Retention of raw diffs: delete the objects of diffs older than their tenant's
//! `diff_retention_days`, mark `diff_blobs.deleted_ms` and audit each deletion.
//! Artifacts and findings stay.

use crate::error::Result;
use crate::model::Millis;
use crate::objects::Objects;
use crate::store::Store;

/// Counts of one retention run, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Objects deleted and marked.
    pub deleted: u64,
    /// Records whose object was already gone (marked all the same).
    pub already_gone: u64,
    /// Records left for the next run because the object store failed.
    pub failed: u64,
}

/// Runs one retention pass over at most `limit` expired diffs.
///
/// The object is deleted before the record is marked, so a crash in between leaves a
/// record that the next run finds again (its object then already gone).
///
/// # Errors
///
/// A database error; object-store errors are counted in
/// [`RetentionReport::failed`] instead.
pub async fn run_retention<S: Store>(
    store: &S,
    objects: &Objects,
    now: Millis,
    limit: i64,
) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    for blob in store.expired_diffs(now, limit).await? {
        match objects.delete(&blob.object_key).await {
            Ok(true) => report.deleted += 1,
            Ok(false) => report.already_gone += 1,
            Err(_) => {
                report.failed += 1;
                continue;
            }
        }
        store
            .mark_diff_deleted(&blob.tenant_id, &blob.scan_id, now)
            .await?;
    }
    Ok(report)
}
