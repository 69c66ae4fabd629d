//! The publisher: drains the check-run outbox (`github_checks`) into GitHub.
//!
//! For each leased row it takes the next step, makes one GitHub call and saves the
//! step before the next one, so a publisher that dies resumes where it stopped:
//!
//! 1. create the check run, `queued` (the webhook was accepted) — unless an earlier
//!    claim of the row already did (looked up by `external_id`, the row id);
//! 2. fetch the pull request's diff and create the scan (idempotent on the row id);
//! 3. `in_progress` once a worker has started the scan;
//! 4. when the scan is finished: annotations beyond the first 50 in `in_progress`
//!    updates of 50, then `completed` with the conclusion, summary and the last
//!    annotations, rendered by diffver-core from the signed verdict.
//!
//! A failed call is counted (`diffver_publish_failures_total`) and retried with
//! exponential backoff, or after GitHub's `Retry-After` / rate-limit reset; after
//! `max_attempts` consecutive failures the row is dead and an admin sees and redrives
//! it. Steps are at least once: a publisher that dies between a call and its save
//! repeats that call (a check-run update repeats the same content), except the
//! create, which a re-claimed row first looks up.

use std::time::Duration;

use diffver_core::report::{
    CheckRunOutput, MAX_ANNOTATIONS_PER_REQUEST, MAX_SUMMARY_CHARS, check_run,
    markdown_inert as md, truncate_chars,
};
use diffver_store::{
    CheckPublish, CreatedScan, Idempotency, Millis, NewScan, OnErrorMode, Published, Scan,
    ScanStatus, Store, StoreError, diff_key,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::client::{CallError, GithubClient};
use crate::service::api::rfc3339;
use crate::service::api::scans::statement_of;
use crate::service::state::AppState;

/// Publisher settings.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// Rows leased per round.
    pub batch: i64,
    /// How long a lease lasts (a round's calls must fit in it).
    pub lease_ms: i64,
    /// How soon a row waiting for its scan is looked at again.
    pub poll_ms: i64,
    /// First retry delay; doubles per consecutive failure up to `max_backoff_ms`.
    pub base_backoff_ms: i64,
    /// Longest retry delay.
    pub max_backoff_ms: i64,
    /// Idle sleep between rounds (a webhook or a finished scan wakes it sooner).
    pub idle: Duration,
}

impl Default for PublisherSettings {
    fn default() -> PublisherSettings {
        PublisherSettings {
            batch: 16,
            lease_ms: 120_000,
            poll_ms: 250,
            base_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            idle: Duration::from_millis(250),
        }
    }
}

/// Runs the publisher until `shutdown`.
///
/// # Errors
///
/// The integration is not configured for publishing (no App id or key).
pub async fn run<S: Store + Clone + 'static>(
    state: AppState<S>,
    settings: PublisherSettings,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(gh) = state.github().cloned() else {
        anyhow::bail!("the publisher needs the GitHub integration configured");
    };
    let client = GithubClient::new(&gh)?;
    tracing::info!(api = %gh.api_url, "GitHub publisher started");
    while !*shutdown.borrow() {
        let now = Millis::from_system_clock();
        let rows = match state
            .store
            .claim_publishes(settings.batch, settings.lease_ms, now)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim publishes");
                Vec::new()
            }
        };
        let busy = rows.len() as i64 == settings.batch;
        for row in rows {
            publish_one(&state, &client, &settings, row).await;
        }
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(settings.idle) => {}
                () = state.publisher_wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    tracing::info!("GitHub publisher stopped");
    Ok(())
}

/// What a step ended with.
enum Step {
    /// Saved; take the next step now.
    Continue(CheckPublish),
    /// Nothing to do until the scan moves; look again later.
    Wait(CheckPublish),
    /// All published.
    Done,
}

async fn publish_one<S: Store + Clone + 'static>(
    state: &AppState<S>,
    client: &GithubClient,
    settings: &PublisherSettings,
    mut row: CheckPublish,
) {
    let max_attempts = state.github().map_or(10, |g| g.max_attempts);
    // At most a handful of steps per lease; a row with many annotation pages comes
    // back in the next round.
    for _ in 0..8 {
        match step(state, client, row.clone()).await {
            Ok(Step::Continue(next)) => row = next,
            Ok(Step::Wait(r)) => {
                let now = Millis::from_system_clock();
                if let Err(e) = state
                    .store
                    .save_publish(&r, true, now.plus_ms(settings.poll_ms), now)
                    .await
                {
                    tracing::warn!(check = %r.id, error = %e, "cannot release a publish");
                }
                return;
            }
            Ok(Step::Done) => return,
            Err(StepError::Lost) => return,
            Err(StepError::Call(e)) => {
                metrics::counter!("diffver_publish_failures_total", "target" => "github", "kind" => e.kind())
                    .increment(1);
                let now = Millis::from_system_clock();
                let permanent = matches!(e, CallError::Permanent { .. });
                let backoff = match &e {
                    CallError::Transient {
                        retry_after: Some(d),
                        ..
                    } => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
                    _ => {
                        let exp = u32::try_from(row.attempts.clamp(0, 20)).unwrap_or(20);
                        settings
                            .base_backoff_ms
                            .saturating_mul(1_i64 << exp)
                            .min(settings.max_backoff_ms)
                    }
                };
                // A permanent failure of a check-run call will not heal by retrying.
                let budget = if permanent {
                    row.attempts + 1
                } else {
                    max_attempts
                };
                match state
                    .store
                    .fail_publish(&row, &e.to_string(), now.plus_ms(backoff), budget, now)
                    .await
                {
                    Ok(r) if r.dead => {
                        metrics::counter!("diffver_publish_dead_total", "target" => "github")
                            .increment(1);
                        tracing::error!(check = %r.id, failures = r.failures, error = %e, "publish is dead after repeated failures; an admin can redrive it");
                    }
                    Ok(r) => {
                        tracing::warn!(check = %r.id, attempts = r.attempts, retry_in_ms = backoff, error = %e, "publish failed; will retry");
                    }
                    Err(se) => {
                        tracing::warn!(check = %row.id, error = %se, "cannot record a failed publish")
                    }
                }
                return;
            }
            Err(StepError::Store(e)) => {
                // Storage or a stored object failed: counted and retried like a GitHub
                // failure, so a row that can never be read goes dead instead of spinning.
                metrics::counter!("diffver_publish_failures_total", "target" => "github", "kind" => "storage")
                    .increment(1);
                tracing::warn!(check = %row.id, error = %e, "storage failed during a publish; will retry");
                let now = Millis::from_system_clock();
                let exp = u32::try_from(row.attempts.clamp(0, 20)).unwrap_or(20);
                let backoff = settings
                    .base_backoff_ms
                    .saturating_mul(1_i64 << exp)
                    .min(settings.max_backoff_ms);
                let _ = state
                    .store
                    .fail_publish(
                        &row,
                        &format!("storage: {e}"),
                        now.plus_ms(backoff),
                        max_attempts,
                        now,
                    )
                    .await;
                return;
            }
        }
    }
    let now = Millis::from_system_clock();
    let _ = state.store.save_publish(&row, true, now, now).await;
}

enum StepError {
    Call(CallError),
    Store(String),
    Lost,
}

impl From<CallError> for StepError {
    fn from(e: CallError) -> StepError {
        StepError::Call(e)
    }
}

async fn save<S: Store>(
    state: &AppState<S>,
    row: &CheckPublish,
    release: bool,
) -> Result<CheckPublish, StepError> {
    let now = Millis::from_system_clock();
    match state.store.save_publish(row, release, now, now).await {
        Ok(r) => Ok(r),
        Err(StoreError::Conflict { .. }) => Err(StepError::Lost),
        Err(e) => Err(StepError::Store(e.to_string())),
    }
}

fn details_url(public: Option<&str>, scan: Option<&Scan>) -> Option<String> {
    let (p, s) = (public?, scan?);
    let p = p.trim_end_matches('/');
    (p.starts_with("https://") || p.starts_with("http://"))
        .then(|| format!("{p}/v1/scans/{}/report.html", s.id))
}

async fn step<S: Store + Clone + 'static>(
    state: &AppState<S>,
    client: &GithubClient,
    mut row: CheckPublish,
) -> Result<Step, StepError> {
    let gh = state
        .github()
        .cloned()
        .ok_or_else(|| StepError::Store("GitHub is not configured".into()))?;
    let inst = row.check.installation_id;
    let repo = row.check.repository.clone();
    // 1. The check run.
    let Some(run_id) = row.check_run_id else {
        // A claim before this one may have created the check run and lost GitHub's
        // answer, or died before saving its id: find it by its external id (the row
        // id) instead of creating a second one, which would stay `queued` forever.
        if row.lease_seq > 1
            && let Some(id) = client
                .find_check_run(inst, &repo, &row.check.head_sha, &gh.check_name, &row.id)
                .await?
        {
            tracing::info!(check = %row.id, check_run = id, "check run found from an earlier attempt");
            row.check_run_id = Some(id);
            row.published = Published::Queued;
            return Ok(Step::Continue(save(state, &row, false).await?));
        }
        let body = json!({
            "name": gh.check_name,
            "head_sha": row.check.head_sha,
            "external_id": row.id,
            "status": "queued",
            "output": {
                "title": "diffver: queued",
                "summary": "The change is queued for verification and scanning.",
            },
        });
        let id = client.create_check_run(inst, &repo, &body).await?;
        metrics::counter!("diffver_publish_total", "target" => "github", "step" => "queued")
            .increment(1);
        row.check_run_id = Some(id);
        row.published = Published::Queued;
        return Ok(Step::Continue(save(state, &row, false).await?));
    };
    // 2. The diff and the scan.
    if row.scan_id.is_none() && row.fetch_error.is_none() {
        match client
            .fetch_diff(
                inst,
                &repo,
                row.check.pull_number,
                row.check.base_sha.as_deref(),
                &row.check.head_sha,
                gh.max_diff_bytes,
            )
            .await
        {
            Ok(diff) => {
                row.scan_id = Some(create_scan(state, &row, diff).await?);
            }
            Err(CallError::Permanent { status, reason }) => {
                row.fetch_error = Some(format!("{reason} (HTTP {status})"));
            }
            Err(e) => return Err(e.into()),
        }
        return Ok(Step::Continue(save(state, &row, false).await?));
    }
    // 2b. No diff: complete with the reason.
    if let Some(reason) = row.fetch_error.clone() {
        let tenant = state
            .store
            .get_tenant(&row.tenant_id)
            .await
            .map_err(|e| StepError::Store(e.to_string()))?;
        // A diff too large to fetch is the submitter's doing: it blocks under every
        // setting (fail closed on input). Other faults follow the tenant's setting.
        let too_large = reason.contains("HTTP 413")
            || reason.contains("HTTP 406")
            || reason.contains("HTTP 422");
        let conclusion = if !too_large && tenant.settings.on_error == OnErrorMode::FailOpen {
            "neutral"
        } else {
            "failure"
        };
        let body = json!({
            "status": "completed",
            "conclusion": conclusion,
            "completed_at": rfc3339(Millis::from_system_clock()),
            "output": {
                "title": "diffver: error — the diff could not be fetched",
                "summary": format!(
                    "**ERROR**: diffver could not get this change's diff from GitHub, so it was not scanned. {}\n\nReason: {}",
                    if conclusion == "failure" { "The change is blocked." } else { "The tenant is fail-open: the change is not blocked." },
                    md(&reason)
                ),
            },
        });
        client.update_check_run(inst, &repo, run_id, &body).await?;
        metrics::counter!("diffver_publish_total", "target" => "github", "step" => "completed")
            .increment(1);
        row.published = Published::Completed;
        row.done = true;
        save(state, &row, true).await?;
        return Ok(Step::Done);
    }
    let Some(scan_id) = row.scan_id.clone() else {
        return Ok(Step::Wait(row));
    };
    let scan = state
        .store
        .get_scan(&row.tenant_id, &scan_id)
        .await
        .map_err(|e| StepError::Store(e.to_string()))?;
    let finished = matches!(scan.status, ScanStatus::Completed | ScanStatus::Error);
    // 3. in_progress, once a worker has it (also when it finished between rounds, so
    //    the check run always shows the three states in order).
    if row.published == Published::Queued && (scan.status != ScanStatus::Queued || finished) {
        let started = scan.started.unwrap_or_else(Millis::from_system_clock);
        let mut body = json!({
            "status": "in_progress",
            "started_at": rfc3339(started),
            "output": {
                "title": "diffver: scanning",
                "summary": "The change is being verified and scanned.",
            },
        });
        if let Some(u) = details_url(gh.public_url.as_deref(), Some(&scan)) {
            body["details_url"] = Value::String(u);
        }
        client.update_check_run(inst, &repo, run_id, &body).await?;
        metrics::counter!("diffver_publish_total", "target" => "github", "step" => "in_progress")
            .increment(1);
        row.published = Published::InProgress;
        return Ok(Step::Continue(save(state, &row, false).await?));
    }
    if !finished {
        return Ok(Step::Wait(row));
    }
    // 4. completed.
    let output = output_of(state, &scan).await?;
    let total = output.annotations.len();
    let sent = usize::try_from(row.annotations_sent.max(0)).unwrap_or(0);
    let mut summary = output.summary.clone();
    if let Some(u) = details_url(gh.public_url.as_deref(), Some(&scan)) {
        summary.push_str(&format!("\n\nFull report: {u}\n"));
    }
    let summary = truncate_chars(&summary, MAX_SUMMARY_CHARS);
    let remaining = total.saturating_sub(sent);
    if remaining > MAX_ANNOTATIONS_PER_REQUEST {
        // Earlier pages go in in_progress updates; `completed` comes last.
        let page = &output.annotations[sent..sent + MAX_ANNOTATIONS_PER_REQUEST];
        let body = json!({
            "output": {
                "title": output.title,
                "summary": summary,
                "annotations": page,
            },
        });
        client.update_check_run(inst, &repo, run_id, &body).await?;
        metrics::counter!("diffver_publish_total", "target" => "github", "step" => "annotations")
            .increment(1);
        row.annotations_sent = i32::try_from(sent + page.len()).unwrap_or(i32::MAX);
        return Ok(Step::Continue(save(state, &row, false).await?));
    }
    let page = &output.annotations[sent.min(total)..];
    let mut body = json!({
        "status": "completed",
        "conclusion": output.conclusion,
        "completed_at": rfc3339(scan.completed.unwrap_or_else(Millis::from_system_clock)),
        "output": {
            "title": output.title,
            "summary": summary,
            "annotations": page,
        },
    });
    if let Some(u) = details_url(gh.public_url.as_deref(), Some(&scan)) {
        body["details_url"] = Value::String(u);
    }
    client.update_check_run(inst, &repo, run_id, &body).await?;
    metrics::counter!("diffver_publish_total", "target" => "github", "step" => "completed")
        .increment(1);
    row.annotations_sent = i32::try_from(total).unwrap_or(i32::MAX);
    row.published = Published::Completed;
    row.done = true;
    save(state, &row, true).await?;
    tracing::info!(check = %row.id, scan_id = %scan.id, conclusion = output.conclusion, annotations = total, "check run completed");
    Ok(Step::Done)
}

/// The check run's output: diffver-core's rendering of the signed verdict, or, for a
/// scan dead-lettered without one, an error conclusion by the tenant's setting.
async fn output_of<S: Store + Clone + 'static>(
    state: &AppState<S>,
    scan: &Scan,
) -> Result<CheckRunOutput, StepError> {
    if let Some(key) = &scan.artifact_key {
        let bytes = state
            .objects
            .get(key)
            .await
            .map_err(|e| StepError::Store(e.to_string()))?;
        let statement = statement_of(&bytes).map_err(StepError::Store)?;
        return Ok(check_run(&statement.predicate));
    }
    let tenant = state
        .store
        .get_tenant(&scan.tenant_id)
        .await
        .map_err(|e| StepError::Store(e.to_string()))?;
    let blocks = scan
        .blocking
        .unwrap_or(tenant.settings.on_error != OnErrorMode::FailOpen);
    Ok(CheckRunOutput {
        conclusion: if blocks { "failure" } else { "neutral" },
        title: "diffver: the scan could not be completed".into(),
        summary: format!(
            "**ERROR**: the scan failed on every attempt (an internal fault; its job is in the dead letters). {}",
            if blocks {
                "The change is blocked."
            } else {
                "The tenant is fail-open: the change is not blocked."
            }
        ),
        annotations: Vec::new(),
    })
}

/// Stores the fetched diff and creates its scan, idempotent on the outbox row's id (a
/// publisher that died after creating it finds the same scan).
async fn create_scan<S: Store + Clone + 'static>(
    state: &AppState<S>,
    row: &CheckPublish,
    diff: Vec<u8>,
) -> Result<diffver_store::ScanId, StepError> {
    let store_err = |e: StoreError| StepError::Store(e.to_string());
    let id = diffver_store::ScanId::generate().map_err(store_err)?;
    let stored = state
        .objects
        .put_once(&diff_key(&id), diff.into())
        .await
        .map_err(store_err)?;
    let metadata = json!({
        "provider": "github",
        "repository": row.check.repository,
        "pull_number": row.check.pull_number,
        "head_sha": row.check.head_sha,
        "base_sha": row.check.base_sha,
        "installation_id": row.check.installation_id,
        "delivery_id": row.delivery_id,
        "event": row.event,
        "check_run_id": row.check_run_id,
        "check": row.id,
    });
    let idempotency = Idempotency::new(&row.id, row.id.as_bytes()).map_err(store_err)?;
    let new = NewScan {
        id,
        diff_sha256: stored.sha256,
        diff_size: stored.size,
        diff_object_key: stored.key.clone(),
        policy_name: None,
        source: "github".into(),
        source_metadata: metadata.to_string(),
        priority: 0,
        max_attempts: state.settings.max_attempts,
        baseline_name: None,
        idempotency: Some(idempotency),
    };
    match state
        .store
        .create_scan(&row.tenant_id, new, Millis::from_system_clock())
        .await
    {
        Ok(CreatedScan::Created(s)) => Ok(s.id),
        Ok(other) => {
            let _ = state.objects.delete(&stored.key).await;
            Ok(other.scan().id.clone())
        }
        Err(e) => {
            let _ = state.objects.delete(&stored.key).await;
            Err(store_err(e))
        }
    }
}
