//! The GitHub integration's persistence: installations (which App installation
//! belongs to which tenant) and the check-run outbox (`github_checks`).
//!
//! A webhook delivery writes its outbox row in the same transaction that records the
//! delivery id, so a redelivery finds the id and adds nothing. The publisher claims due
//! rows under a fenced lease (`lease_seq`), performs one GitHub call at a time and saves
//! each step before the next, so a publisher that dies resumes where it stopped.

use sqlx::FromRow;

use crate::error::{Result, StoreError};
use crate::model::{Millis, ScanId, TenantId};

/// An installation of the GitHub App.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// GitHub's installation id.
    pub installation_id: i64,
    /// The tenant it maps to (`None` until mapped).
    pub tenant_id: Option<TenantId>,
    /// The account (user or organisation login) it is installed on.
    pub account: String,
    /// First seen.
    pub created: Millis,
    /// Last changed.
    pub updated: Millis,
    /// When it was uninstalled.
    pub deleted: Option<Millis>,
}

/// How far a check run has been published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Published {
    /// Not created on GitHub yet.
    None,
    /// Created with status `queued`.
    Queued,
    /// Updated to `in_progress`.
    InProgress,
    /// Updated to `completed` (the last step).
    Completed,
}

impl Published {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Published::None => "none",
            Published::Queued => "queued",
            Published::InProgress => "in_progress",
            Published::Completed => "completed",
        }
    }

    fn parse(s: &str) -> Result<Published> {
        Ok(match s {
            "none" => Published::None,
            "queued" => Published::Queued,
            "in_progress" => Published::InProgress,
            "completed" => Published::Completed,
            _ => return Err(StoreError::Corrupt { field: "published" }),
        })
    }
}

/// What a webhook asks to be checked: one head SHA of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheck {
    /// The App installation the event came through.
    pub installation_id: i64,
    /// `owner/name`.
    pub repository: String,
    /// The pull request, if the event names one.
    pub pull_number: Option<i64>,
    /// The commit to check.
    pub head_sha: String,
    /// The base commit, if known (for a compare when there is no pull request).
    pub base_sha: Option<String>,
    /// A re-run request: a new check even if the commit was checked before (otherwise
    /// one check per commit, whichever event asks first).
    pub rerun: bool,
}

/// What [`crate::Store::accept_github_event`] did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new outbox row.
    Queued(Box<CheckPublish>),
    /// The delivery id was seen before: nothing added.
    Redelivery,
    /// The commit already has a check (and this is not a re-run): nothing added.
    AlreadyChecked,
}

/// An outbox row: one check run and how far it has been published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPublish {
    /// Its id (`gck_…`), also the check run's `external_id`.
    pub id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What to check.
    pub check: NewCheck,
    /// The delivery that asked for it.
    pub delivery_id: String,
    /// The event that asked for it (`pull_request`, `check_suite`, `check_run`).
    pub event: String,
    /// GitHub's check-run id, once created.
    pub check_run_id: Option<i64>,
    /// The scan, once the diff is fetched.
    pub scan_id: Option<ScanId>,
    /// Why the diff could not be fetched (a permanent reason: too large, not found).
    pub fetch_error: Option<String>,
    /// How far the check run has been published.
    pub published: Published,
    /// Annotations already sent.
    pub annotations_sent: i32,
    /// Nothing left to publish.
    pub done: bool,
    /// Failed too many times in a row; waits for an admin's redrive.
    pub dead: bool,
    /// Consecutive failures (reset by progress).
    pub attempts: i32,
    /// Failures in all.
    pub failures: i32,
    /// The last failure, for an admin (never a token).
    pub last_error: Option<String>,
    /// Not due before.
    pub next_attempt: Millis,
    /// The lease generation a publisher holds.
    pub lease_seq: i64,
    /// The lease runs out.
    pub lease_until: Millis,
    /// Created.
    pub created: Millis,
    /// Last changed.
    pub updated: Millis,
}

impl CheckPublish {
    /// Generates an outbox id.
    ///
    /// # Errors
    ///
    /// The random generator failed.
    pub fn generate_id() -> Result<String> {
        Ok(format!("gck_{}", crate::model::random_hex(16)?))
    }
}

macro_rules! installation_cols {
    () => {
        "installation_id, tenant_id, account, created_ms, updated_ms, deleted_ms"
    };
}
pub(crate) use installation_cols;

macro_rules! check_cols {
    () => {
        "id, tenant_id, installation_id, repository, pull_number, head_sha, base_sha, rerun, \
         delivery_id, event, check_run_id, scan_id, fetch_error, published, annotations_sent, \
         done, dead, attempts, failures, last_error, next_attempt_ms, lease_seq, lease_until_ms, \
         created_ms, updated_ms"
    };
}
pub(crate) use check_cols;

#[derive(FromRow)]
pub(crate) struct InstallationRow {
    installation_id: i64,
    tenant_id: Option<String>,
    account: String,
    created_ms: i64,
    updated_ms: i64,
    deleted_ms: Option<i64>,
}

impl From<InstallationRow> for Installation {
    fn from(r: InstallationRow) -> Installation {
        Installation {
            installation_id: r.installation_id,
            tenant_id: r.tenant_id.map(TenantId::from_db),
            account: r.account,
            created: Millis(r.created_ms),
            updated: Millis(r.updated_ms),
            deleted: r.deleted_ms.map(Millis),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct CheckRow {
    id: String,
    tenant_id: String,
    installation_id: i64,
    repository: String,
    pull_number: Option<i64>,
    head_sha: String,
    base_sha: Option<String>,
    rerun: bool,
    delivery_id: String,
    event: String,
    check_run_id: Option<i64>,
    scan_id: Option<String>,
    fetch_error: Option<String>,
    published: String,
    annotations_sent: i32,
    done: bool,
    dead: bool,
    attempts: i32,
    failures: i32,
    last_error: Option<String>,
    next_attempt_ms: i64,
    lease_seq: i64,
    lease_until_ms: i64,
    created_ms: i64,
    updated_ms: i64,
}

impl TryFrom<CheckRow> for CheckPublish {
    type Error = StoreError;
    fn try_from(r: CheckRow) -> Result<CheckPublish> {
        Ok(CheckPublish {
            id: r.id,
            tenant_id: TenantId::from_db(r.tenant_id),
            check: NewCheck {
                installation_id: r.installation_id,
                repository: r.repository,
                pull_number: r.pull_number,
                head_sha: r.head_sha,
                base_sha: r.base_sha,
                rerun: r.rerun,
            },
            delivery_id: r.delivery_id,
            event: r.event,
            check_run_id: r.check_run_id,
            scan_id: r.scan_id.map(ScanId::from_db),
            fetch_error: r.fetch_error,
            published: Published::parse(&r.published)?,
            annotations_sent: r.annotations_sent,
            done: r.done,
            dead: r.dead,
            attempts: r.attempts,
            failures: r.failures,
            last_error: r.last_error,
            next_attempt: Millis(r.next_attempt_ms),
            lease_seq: r.lease_seq,
            lease_until: Millis(r.lease_until_ms),
            created: Millis(r.created_ms),
            updated: Millis(r.updated_ms),
        })
    }
}

pub(crate) fn rows_to_checks(rows: Vec<CheckRow>) -> Result<Vec<CheckPublish>> {
    rows.into_iter().map(CheckPublish::try_from).collect()
}

/// Validates what a webhook may store (it comes from a signed but still external
/// payload): a repository `owner/name`, a 40- or 64-hex SHA.
pub(crate) fn validate_check(c: &NewCheck) -> Result<()> {
    let sha_ok = |s: &str| matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !sha_ok(&c.head_sha) || c.base_sha.as_deref().is_some_and(|s| !sha_ok(s)) {
        return Err(StoreError::Invalid {
            field: "head_sha",
            reason: "a commit SHA is 40 or 64 hex digits",
        });
    }
    let repo_ok = c.repository.len() <= 200
        && c.repository.split('/').count() == 2
        && c.repository.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if !repo_ok {
        return Err(StoreError::Invalid {
            field: "repository",
            reason: "a repository is owner/name in GitHub's alphabet",
        });
    }
    if c.installation_id <= 0 || c.pull_number.is_some_and(|n| n <= 0) {
        return Err(StoreError::Invalid {
            field: "installation_id",
            reason: "ids are positive",
        });
    }
    Ok(())
}

/// The GitHub operations both backends implement with the same SQL; expanded inside
/// each backend's `impl Store`.
macro_rules! github_ops {
    () => {
        async fn upsert_installation(
            &self,
            installation_id: i64,
            account: &str,
            tenant: Option<&TenantId>,
            now: Millis,
        ) -> Result<crate::github::Installation> {
            if installation_id <= 0 || account.len() > 200 {
                return Err(StoreError::Invalid {
                    field: "installation",
                    reason: "a positive id and an account of at most 200 bytes",
                });
            }
            let mut tx = self.system_tx().await?;
            let row: crate::github::InstallationRow = sqlx::query_as(concat!(
                "INSERT INTO github_installations (installation_id, tenant_id, account, \
                 created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (installation_id) DO UPDATE SET \
                 tenant_id = COALESCE(excluded.tenant_id, github_installations.tenant_id), \
                 account = excluded.account, updated_ms = excluded.updated_ms, deleted_ms = NULL \
                 RETURNING ",
                crate::github::installation_cols!()
            ))
            .bind(installation_id)
            .bind(tenant.map(|t| t.as_str()))
            .bind(account)
            .bind(now.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::NotFound { kind: "tenant" }
                } else {
                    e.into()
                }
            })?;
            tx.commit().await?;
            Ok(row.into())
        }

        async fn map_installation(
            &self,
            installation_id: i64,
            tenant: &TenantId,
            actor: &str,
            now: Millis,
        ) -> Result<crate::github::Installation> {
            let mut tx = self.system_tx().await?;
            let row: Option<crate::github::InstallationRow> = sqlx::query_as(concat!(
                "UPDATE github_installations SET tenant_id = $2, updated_ms = $3 \
                 WHERE installation_id = $1 RETURNING ",
                crate::github::installation_cols!()
            ))
            .bind(installation_id)
            .bind(tenant.as_str())
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::NotFound { kind: "tenant" }
                } else {
                    e.into()
                }
            })?;
            let row = row.ok_or(StoreError::NotFound {
                kind: "installation",
            })?;
            Self::audit_tx(
                &mut tx,
                tenant,
                &NewAuditEvent {
                    actor: actor.to_owned(),
                    action: "github.installation.map".into(),
                    object_kind: "github_installation".into(),
                    object_id: installation_id.to_string(),
                    detail: "{}".into(),
                },
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(row.into())
        }

        async fn delete_installation(&self, installation_id: i64, now: Millis) -> Result<()> {
            let mut tx = self.system_tx().await?;
            sqlx::query(
                "UPDATE github_installations SET deleted_ms = $2, updated_ms = $2 \
                 WHERE installation_id = $1",
            )
            .bind(installation_id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn get_installation(
            &self,
            installation_id: i64,
        ) -> Result<crate::github::Installation> {
            let mut tx = self.system_read_tx().await?;
            let row: Option<crate::github::InstallationRow> = sqlx::query_as(concat!(
                "SELECT ",
                crate::github::installation_cols!(),
                " FROM github_installations WHERE installation_id = $1"
            ))
            .bind(installation_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row
                .ok_or(StoreError::NotFound {
                    kind: "installation",
                })?
                .into())
        }

        async fn list_installations(&self) -> Result<Vec<crate::github::Installation>> {
            let mut tx = self.system_read_tx().await?;
            let rows: Vec<crate::github::InstallationRow> = sqlx::query_as(concat!(
                "SELECT ",
                crate::github::installation_cols!(),
                " FROM github_installations ORDER BY installation_id"
            ))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        async fn accept_github_event(
            &self,
            tenant: &TenantId,
            delivery_id: &str,
            event: &str,
            check: crate::github::NewCheck,
            now: Millis,
        ) -> Result<crate::github::Accepted> {
            crate::github::validate_check(&check)?;
            if delivery_id.is_empty() || delivery_id.len() > 100 || event.len() > 100 {
                return Err(StoreError::Invalid {
                    field: "delivery_id",
                    reason: "1 to 100 bytes",
                });
            }
            let id = crate::github::CheckPublish::generate_id()?;
            let mut tx = self.tenant_tx(tenant).await?;
            let r = sqlx::query(
                "INSERT INTO webhook_deliveries (tenant_id, source, delivery_id, event, status, \
                 received_ms, updated_ms) VALUES ($1, 'github', $2, $3, 'enqueued', $4, $4) \
                 ON CONFLICT (tenant_id, source, delivery_id) DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(delivery_id)
            .bind(event)
            .bind(now.0)
            .execute(&mut *tx)
            .await;
            if let Err(e) = &r
                && is_foreign_key_violation(e)
            {
                return Err(StoreError::NotFound { kind: "tenant" });
            }
            if r?.rows_affected() == 0 {
                // A redelivery: acknowledged, nothing added.
                tx.commit().await?;
                return Ok(crate::github::Accepted::Redelivery);
            }
            // One check per commit unless this is a re-run (the partial unique index
            // decides races between events of one push).
            let row: Option<crate::github::CheckRow> = sqlx::query_as(concat!(
                "INSERT INTO github_checks (id, tenant_id, installation_id, repository, \
                 pull_number, head_sha, base_sha, rerun, delivery_id, event, next_attempt_ms, \
                 created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11) \
                 ON CONFLICT DO NOTHING RETURNING ",
                crate::github::check_cols!()
            ))
            .bind(&id)
            .bind(tenant.as_str())
            .bind(check.installation_id)
            .bind(&check.repository)
            .bind(check.pull_number)
            .bind(&check.head_sha)
            .bind(check.base_sha.as_deref())
            .bind(check.rerun)
            .bind(delivery_id)
            .bind(event)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            match row {
                Some(r) => Ok(crate::github::Accepted::Queued(Box::new(r.try_into()?))),
                None => Ok(crate::github::Accepted::AlreadyChecked),
            }
        }

        async fn claim_publishes(
            &self,
            limit: i64,
            lease_ms: i64,
            now: Millis,
        ) -> Result<Vec<crate::github::CheckPublish>> {
            let mut tx = self.system_tx().await?;
            // The outer WHERE repeats the due test, so that on Postgres a row another
            // publisher claimed meanwhile is re-checked and skipped.
            let rows: Vec<crate::github::CheckRow> = sqlx::query_as(concat!(
                "UPDATE github_checks SET lease_seq = lease_seq + 1, lease_until_ms = $2, \
                 updated_ms = $1 WHERE id IN (SELECT id FROM github_checks \
                 WHERE done = FALSE AND dead = FALSE AND next_attempt_ms <= $1 \
                 AND lease_until_ms <= $1 ORDER BY next_attempt_ms LIMIT $3) \
                 AND done = FALSE AND dead = FALSE AND lease_until_ms <= $1 RETURNING ",
                crate::github::check_cols!()
            ))
            .bind(now.0)
            .bind(now.0.saturating_add(lease_ms))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut v = crate::github::rows_to_checks(rows)?;
            v.sort_by_key(|c| (c.next_attempt, c.created));
            Ok(v)
        }

        async fn save_publish(
            &self,
            p: &crate::github::CheckPublish,
            release: bool,
            next_attempt: Millis,
            now: Millis,
        ) -> Result<crate::github::CheckPublish> {
            let mut tx = self.system_tx().await?;
            let row: Option<crate::github::CheckRow> = sqlx::query_as(concat!(
                "UPDATE github_checks SET check_run_id = $3, scan_id = $4, fetch_error = $5, \
                 published = $6, annotations_sent = $7, done = $8, attempts = 0, \
                 next_attempt_ms = $9, \
                 lease_until_ms = CASE WHEN $10 THEN 0 ELSE lease_until_ms END, updated_ms = $11 \
                 WHERE id = $1 AND lease_seq = $2 AND lease_until_ms > $11 RETURNING ",
                crate::github::check_cols!()
            ))
            .bind(&p.id)
            .bind(p.lease_seq)
            .bind(p.check_run_id)
            .bind(p.scan_id.as_ref().map(|s| s.as_str()))
            .bind(p.fetch_error.as_deref())
            .bind(p.published.as_str())
            .bind(p.annotations_sent)
            .bind(p.done)
            .bind(next_attempt.0)
            .bind(release)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.ok_or(StoreError::Conflict {
                what: "the publish lease was lost",
            })?
            .try_into()
        }

        async fn fail_publish(
            &self,
            p: &crate::github::CheckPublish,
            error: &str,
            retry_at: Millis,
            max_attempts: i32,
            now: Millis,
        ) -> Result<crate::github::CheckPublish> {
            let error = crate::model::truncate_utf8(error, 2000);
            let mut tx = self.system_tx().await?;
            let row: Option<crate::github::CheckRow> = sqlx::query_as(concat!(
                "UPDATE github_checks SET attempts = attempts + 1, failures = failures + 1, \
                 last_error = $3, next_attempt_ms = $4, lease_until_ms = 0, \
                 dead = (attempts + 1 >= $5), updated_ms = $6 \
                 WHERE id = $1 AND lease_seq = $2 RETURNING ",
                crate::github::check_cols!()
            ))
            .bind(&p.id)
            .bind(p.lease_seq)
            .bind(error)
            .bind(retry_at.0)
            .bind(max_attempts)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.ok_or(StoreError::Conflict {
                what: "the publish lease was lost",
            })?
            .try_into()
        }

        async fn list_publishes(
            &self,
            tenant: &TenantId,
            dead_only: bool,
            limit: i64,
        ) -> Result<Vec<crate::github::CheckPublish>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<crate::github::CheckRow> = sqlx::query_as(concat!(
                "SELECT ",
                crate::github::check_cols!(),
                " FROM github_checks WHERE tenant_id = $1 AND (dead = TRUE OR $2 = FALSE) \
                 ORDER BY created_ms DESC, id LIMIT $3"
            ))
            .bind(tenant.as_str())
            .bind(dead_only)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            crate::github::rows_to_checks(rows)
        }

        async fn redrive_publish(
            &self,
            tenant: &TenantId,
            id: &str,
            actor: &str,
            now: Millis,
        ) -> Result<crate::github::CheckPublish> {
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<crate::github::CheckRow> = sqlx::query_as(concat!(
                "UPDATE github_checks SET dead = FALSE, attempts = 0, next_attempt_ms = $3, \
                 lease_until_ms = 0, updated_ms = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND dead = TRUE RETURNING ",
                crate::github::check_cols!()
            ))
            .bind(tenant.as_str())
            .bind(id)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
            let row = row.ok_or(StoreError::NotFound {
                kind: "dead publish",
            })?;
            Self::audit_tx(
                &mut tx,
                tenant,
                &NewAuditEvent {
                    actor: actor.to_owned(),
                    action: "github.publish.redrive".into(),
                    object_kind: "github_check".into(),
                    object_id: id.to_owned(),
                    detail: "{}".into(),
                },
                now,
            )
            .await?;
            tx.commit().await?;
            row.try_into()
        }
    };
}
pub(crate) use github_ops;
