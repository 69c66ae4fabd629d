//! The worker: claim jobs, scan, sign, store, complete — fenced and idempotent.
//!
//! Each attempt reads the scan, its diff (checked against its SHA-256) and the
//! tenant's policy, exceptions and settings, evaluates on a blocking thread, writes
//! the artifact and HTML once (`put_once`: a retry writes the same bytes, since the
//! scan time is the scan's creation time) and completes the job only if it still
//! holds the lease. A failed attempt goes back to the queue with backoff; the last
//! one completes the scan as `error`, blocking unless the tenant or its policy is
//! fail-open. Shutdown stops claiming and waits for the jobs in hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use diffver_core::policy::Policy;
use diffver_store::{
    Backoff, ClaimOptions, Lease, Millis, ScanOutputs, Store, StoreError, WorkerId,
    artifact_html_key, artifact_json_key,
};
use tokio::sync::{Semaphore, watch};

use super::evaluate::{self, PolicySource, Rendered, Unsigned};
use super::signer::ServiceSigner;
use super::state::AppState;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs processed at once by this worker.
    pub concurrency: usize,
    /// Lease length; a heartbeat extends it every third of it.
    pub lease_ms: i64,
    /// Longest sleep when the queue is empty (a wake-up ends it sooner).
    pub idle_poll: Duration,
    /// Retry backoff.
    pub backoff: Backoff,
    /// How often expired leases are reaped and the queue gauges refreshed.
    pub reap_every: Duration,
    /// How long shutdown waits for jobs in hand.
    pub drain: Duration,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            concurrency: 2,
            lease_ms: 60_000,
            idle_poll: Duration::from_secs(1),
            backoff: Backoff {
                base_ms: 500,
                cap_ms: 60_000,
                jitter: 0.2,
            },
            reap_every: Duration::from_secs(5),
            drain: Duration::from_secs(30),
        }
    }
}

/// Runs a worker until `shutdown` turns true, then drains.
///
/// # Errors
///
/// Only if the worker cannot start (no randomness for its id).
pub async fn run<S: Store + Clone + 'static>(
    state: AppState<S>,
    settings: WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let worker = WorkerId::generate()?;
    let concurrency = settings.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let settings = Arc::new(settings);
    let mut waiter = state.store.waiter().await.ok();
    let mut last_reap: Option<Instant> = None;
    tracing::info!(worker = %worker, concurrency, "worker started");
    while !*shutdown.borrow() {
        if last_reap.is_none_or(|t| t.elapsed() >= settings.reap_every) {
            maintenance(&state, &settings).await;
            last_reap = Some(Instant::now());
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                p = Arc::clone(&slots).acquire_owned() => drop(p),
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let opts = ClaimOptions {
            worker: worker.clone(),
            max_jobs: i64::try_from(free).unwrap_or(1),
            lease_ms: settings.lease_ms,
        };
        let leases = match state.store.claim(&opts, Millis::from_system_clock()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "claim failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(settings.idle_poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        if leases.is_empty() {
            let sleep = settings.idle_poll;
            match waiter.as_mut() {
                Some(w) => {
                    tokio::select! {
                        r = w.wait(sleep) => if r.is_err() { waiter = None; },
                        _ = shutdown.changed() => {}
                    }
                }
                None => {
                    tokio::select! {
                        () = tokio::time::sleep(sleep) => {}
                        _ = shutdown.changed() => {}
                    }
                    waiter = state.store.waiter().await.ok();
                }
            }
            continue;
        }
        for lease in leases {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let state = state.clone();
            let settings = Arc::clone(&settings);
            tokio::spawn(async move {
                process(&state, &settings, lease).await;
                drop(permit);
            });
        }
    }
    tracing::info!(worker = %worker, "worker stopping: waiting for jobs in hand");
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    if tokio::time::timeout(settings.drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "jobs still running at the end of the drain; their leases will expire and be retried"
        );
    }
    Ok(())
}

/// Reaps expired leases and refreshes the queue gauges.
async fn maintenance<S: Store>(state: &AppState<S>, settings: &WorkerSettings) {
    let now = Millis::from_system_clock();
    match state.store.reap_expired(&settings.backoff, 500, now).await {
        Ok(r) => {
            if r.dead_lettered > 0 {
                metrics::counter!("diffver_jobs_dead_lettered_total").increment(r.dead_lettered);
            }
            if r.requeued > 0 {
                tracing::info!(
                    requeued = r.requeued,
                    dead_lettered = r.dead_lettered,
                    "reaped expired leases"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "reaping failed"),
    }
    match diffver_store::run_retention(&state.store, &state.objects, now, 500).await {
        Ok(r) => {
            for (outcome, n) in [
                ("deleted", r.deleted),
                ("already_gone", r.already_gone),
                ("failed", r.failed),
            ] {
                if n > 0 {
                    metrics::counter!("diffver_retention_diffs_total", "outcome" => outcome)
                        .increment(n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "retention pass failed"),
    }
    // Idempotency keys are honoured for a day; finished jobs are kept a week.
    let _ = state
        .store
        .prune_idempotency(now.plus_ms(-86_400_000))
        .await;
    let _ = state
        .store
        .prune_finished_jobs(now.plus_ms(-7 * 86_400_000))
        .await;
    super::telemetry::record_queue_stats(&state.store, now).await;
}

/// One attempt at one job, with a heartbeat while it runs.
async fn process<S: Store + Clone + 'static>(
    state: &AppState<S>,
    settings: &WorkerSettings,
    lease: Lease,
) {
    let started = Instant::now();
    let heartbeat = {
        let state = state.clone();
        let lease = lease.clone();
        let every = Duration::from_millis(
            u64::try_from(settings.lease_ms / 3)
                .unwrap_or(1000)
                .max(100),
        );
        let lease_ms = settings.lease_ms;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if state
                    .store
                    .heartbeat(&lease, lease_ms, Millis::from_system_clock())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let result = attempt(state, &lease).await;
    heartbeat.abort();
    let now = Millis::from_system_clock();
    let outcome = match result {
        Ok(r) => finish(state, &lease, r, now).await,
        Err(e) if lease.attempt >= lease.max_attempts => {
            tracing::error!(scan_id = %lease.scan_id, error = %format!("{e:#}"), "last attempt failed; the scan ends in error");
            match give_up(state, &lease, &format!("{e:#}")).await {
                Ok(r) => finish(state, &lease, r, now).await,
                Err(e2) => {
                    tracing::error!(scan_id = %lease.scan_id, error = %format!("{e2:#}"), "cannot record the error verdict");
                    // The error verdict needs a signature too: with the signer down
                    // (a KMS outage) the job goes to the dead letters with both
                    // errors kept, for an operator to re-drive once it is back.
                    let error =
                        format!("{e:#}; the error verdict could not be made either: {e2:#}");
                    let _ = state
                        .store
                        .fail(&lease, &error, &settings.backoff, now)
                        .await;
                    metrics::counter!("diffver_jobs_dead_lettered_total").increment(1);
                    Ok(())
                }
            }
        }
        Err(e) => {
            tracing::warn!(scan_id = %lease.scan_id, attempt = lease.attempt, error = %format!("{e:#}"), "attempt failed; retrying");
            metrics::counter!("diffver_jobs_retried_total").increment(1);
            state
                .store
                .fail(&lease, &format!("{e:#}"), &settings.backoff, now)
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from)
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(scan_id = %lease.scan_id, error = %format!("{e:#}"), "job outcome not recorded");
    }
    metrics::histogram!("diffver_scan_duration_seconds").record(started.elapsed().as_secs_f64());
    state.finished.notify(&lease.scan_id);
    if state.github().is_some() {
        state.publisher_wake.notify_one();
    }
}

async fn finish<S: Store>(
    state: &AppState<S>,
    lease: &Lease,
    r: Rendered,
    now: Millis,
) -> anyhow::Result<()> {
    let json_key = artifact_json_key(&lease.scan_id);
    let html_key = artifact_html_key(&lease.scan_id);
    state.objects.put_once(&json_key, r.envelope.into()).await?;
    state
        .objects
        .put_once(&html_key, r.html.into_bytes().into())
        .await?;
    let outputs = ScanOutputs {
        decision: Some(r.decision),
        policy_hash: Some(r.policy_hash),
        blocking: Some(r.blocking),
        artifact_key: Some(json_key),
        html_key: Some(html_key),
        error: None,
        findings: r.findings,
    };
    match state.store.complete(lease, outputs, now).await {
        Ok(()) => {
            metrics::counter!("diffver_scans_total", "decision" => r.decision.as_str())
                .increment(1);
            tracing::info!(scan_id = %lease.scan_id, decision = r.decision.as_str(), blocking = r.blocking, "scan finished");
            Ok(())
        }
        Err(StoreError::Fenced { .. }) => {
            metrics::counter!("diffver_jobs_fenced_total").increment(1);
            tracing::warn!(scan_id = %lease.scan_id, "lease lost before completion; another attempt owns the job");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The policy a scan runs under, reused for `policy_ttl`.
async fn policy_for<S: Store>(
    state: &AppState<S>,
    lease: &Lease,
    policy_name: Option<&str>,
) -> anyhow::Result<Arc<Policy>> {
    let key = (lease.tenant_id.clone(), policy_name.map(str::to_owned));
    let ttl = state.settings.policy_ttl;
    if let Ok(m) = state.policies.lock()
        && let Some((at, p)) = m.get(&key)
        && at.elapsed() < ttl
    {
        return Ok(Arc::clone(p));
    }
    let p = Arc::new(resolve_for(state, lease, policy_name).await?);
    if let Ok(mut m) = state.policies.lock() {
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(key, (Instant::now(), Arc::clone(&p)));
    }
    Ok(p)
}

/// Reads and resolves the policy a scan runs under.
async fn resolve_for<S: Store>(
    state: &AppState<S>,
    lease: &Lease,
    policy_name: Option<&str>,
) -> anyhow::Result<Policy> {
    let tenant = state.store.get_tenant(&lease.tenant_id).await?;
    let source = match policy_name {
        Some(n) if Policy::BUILTIN.contains(&n) => PolicySource::Builtin(n.to_owned()),
        Some(n) => {
            let p = state.store.active_policy(&lease.tenant_id, n).await?;
            PolicySource::Stored {
                name: p.name,
                version: p.version,
                body: p.body,
            }
        }
        None => match state.store.active_policy(&lease.tenant_id, "default").await {
            Ok(p) => PolicySource::Stored {
                name: p.name,
                version: p.version,
                body: p.body,
            },
            Err(StoreError::NotFound { .. }) => PolicySource::Builtin("standard".into()),
            Err(e) => return Err(e.into()),
        },
    };
    let exceptions = state.store.list_exceptions(&lease.tenant_id, None).await?;
    evaluate::resolve_policy(&source, &exceptions, tenant.settings.on_error)
}

async fn attempt<S: Store>(state: &AppState<S>, lease: &Lease) -> anyhow::Result<Rendered> {
    let scan = state
        .store
        .get_scan(&lease.tenant_id, &lease.scan_id)
        .await?;
    if let Some(started) = scan.started {
        let delay = (started.0 - scan.created.0).max(0) as f64 / 1000.0;
        if lease.attempt == 1 {
            metrics::histogram!("diffver_scan_queue_delay_seconds").record(delay);
        }
    }
    let blob = state
        .store
        .get_diff_blob(&lease.tenant_id, &lease.scan_id)
        .await?;
    if blob.deleted.is_some() {
        anyhow::bail!("the raw diff was deleted by retention before the scan ran");
    }
    let diff = state
        .objects
        .get_verified(&blob.object_key, &blob.sha256)
        .await
        .context("cannot read the diff")?;
    let policy = policy_for(state, lease, scan.policy_name.as_deref()).await?;
    let baseline = match &scan.baseline_name {
        Some(name) => {
            let b = state
                .store
                .get_baseline(&lease.tenant_id, name)
                .await
                .with_context(|| format!("the scan's baseline {name:?}"))?;
            Some(
                diffver_core::suppress::Baseline::from_json(&b.body)
                    .map_err(|e| anyhow::anyhow!("stored baseline {name:?}: {}", e.message))?,
            )
        }
        None => None,
    };
    let now = evaluate::scan_time(scan.created.0)?;
    let key = signer_for(state, &lease.tenant_id).await?;
    let signer = key.identity();
    let scan_id = scan.id.to_string();
    let unsigned = tokio::task::spawn_blocking(move || {
        evaluate::evaluate(&diff, &policy, baseline.as_ref(), &scan_id, now, &signer)
    })
    .await
    .context("the scan task panicked")??;
    seal(&key, unsigned).await
}

/// The signer of a tenant's artifacts: the per-tenant key its `signer` setting names,
/// else the deployment's default. A named key this process does not have fails the
/// attempt (never signs with another key).
async fn signer_for<S: Store>(
    state: &AppState<S>,
    tenant: &diffver_store::TenantId,
) -> anyhow::Result<Arc<ServiceSigner>> {
    let ttl = state.settings.policy_ttl;
    let cached = state.tenant_signer_ids.lock().ok().and_then(|m| {
        m.get(tenant)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, k)| k.clone())
    });
    let key_id = match cached {
        Some(k) => k,
        None => {
            let k = state.store.get_tenant(tenant).await?.signer;
            if let Ok(mut m) = state.tenant_signer_ids.lock() {
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(tenant.clone(), (Instant::now(), k.clone()));
            }
            k
        }
    };
    match key_id {
        None => Ok(Arc::clone(&state.signer)),
        Some(k) => state
            .tenant_signers
            .get()
            .and_then(|m| m.get(&k))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the tenant's signing key {k:?} is not configured in this process (DIFFVER_TENANT_SIGNING_KEYS)"
                )
            }),
    }
}

/// Signs a scan's statement (a KMS call runs here, on the runtime, not on a
/// blocking thread) and assembles its envelope. A failure fails the attempt, so
/// the queue retries it.
async fn seal(signer: &ServiceSigner, unsigned: Unsigned) -> anyhow::Result<Rendered> {
    let signature = signer
        .sign(unsigned.signing_input())
        .await
        .context("cannot sign the artifact")?;
    unsigned.seal(signature)
}

/// The error verdict of a scan whose attempts are used up.
async fn give_up<S: Store>(
    state: &AppState<S>,
    lease: &Lease,
    reason: &str,
) -> anyhow::Result<Rendered> {
    let scan = state
        .store
        .get_scan(&lease.tenant_id, &lease.scan_id)
        .await?;
    let policy = match policy_for(state, lease, scan.policy_name.as_deref()).await {
        Ok(p) => p,
        Err(_) => {
            // Even the policy cannot be read: the tenant's setting decides alone.
            let tenant = state.store.get_tenant(&lease.tenant_id).await?;
            Arc::new(evaluate::resolve_policy(
                &PolicySource::Builtin("standard".into()),
                &[],
                tenant.settings.on_error,
            )?)
        }
    };
    let now = evaluate::scan_time(scan.created.0)?;
    let key = signer_for(state, &lease.tenant_id).await?;
    let signer = key.identity();
    let scan_id = scan.id.to_string();
    let reason = format!(
        "the scan could not be completed after {} attempts: {reason}",
        lease.attempt
    );
    let (digest, size) = (
        scan.diff_sha256.clone(),
        usize::try_from(scan.diff_size).unwrap_or(0),
    );
    let unsigned = tokio::task::spawn_blocking(move || {
        evaluate::internal_error(&policy, &scan_id, now, &reason, (&digest, size), &signer)
    })
    .await
    .context("the scan task panicked")??;
    seal(&key, unsigned).await
}
