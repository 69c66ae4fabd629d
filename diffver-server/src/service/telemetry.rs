//! Metrics (Prometheus exposition on `/metrics`) and structured JSON logs.
//!
//! Metric names, all prefixed `diffver_`:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `http_request_duration_seconds` | histogram | `route` (the matched template), `method`, `status` |
//! | `scan_duration_seconds` | histogram | `decision` — claim to completion |
//! | `scan_queue_delay_seconds` | histogram | — enqueue to start |
//! | `scans_total` | counter | `decision` (`pass`, `fail`, `error`) |
//! | `jobs_dead_lettered_total` | counter | — |
//! | `jobs_retried_total` | counter | — |
//! | `request_body_timeouts_total` | counter | — request bodies that did not arrive in time (408) |
//! | `jobs_fenced_total` | counter | — completions refused because the lease was lost (a paused or slow worker) |
//! | `auth_failures_total` | counter | `reason` (`missing`, `malformed`, `invalid`, `forbidden`) |
//! | `rate_limited_total` | counter | `limit` (`rate`, `in_flight`) |
//! | `retention_diffs_total` | counter | `outcome` (`deleted`, `already_gone`, `failed`) |
//! | `github_webhooks_total` | counter | `event`, `result` (`queued`, `duplicate`, `ignored`, `unmapped`, …) |
//! | `publish_total` | counter | `target` (`github`), `step` (`queued`, `in_progress`, `annotations`, `completed`) |
//! | `publish_failures_total` | counter | `target`, `kind` (`transient`, `rate_limited`, `permanent`) |
//! | `publish_dead_total` | counter | `target` — outbox rows that used up their attempts |
//! | `queue_jobs` | gauge | `status` (`queued`, `running`, `dead_letter`) |
//! | `queue_oldest_age_seconds` | gauge | — |
//!
//! Logs never carry diff content, API keys or secrets: only ids, sizes, decisions and
//! error kinds.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds) for every histogram.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first (a test harness);
            // the handle then renders nothing, which is all that can be done.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            register_series();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "diffver_http_request_duration_seconds",
        "HTTP request duration by route, method and status."
    );
    describe_histogram!(
        "diffver_scan_duration_seconds",
        "Worker time from claim to completion."
    );
    describe_histogram!(
        "diffver_scan_queue_delay_seconds",
        "Time from enqueue to the start of the attempt."
    );
    describe_counter!("diffver_scans_total", "Finished scans by decision.");
    describe_counter!(
        "diffver_jobs_dead_lettered_total",
        "Jobs that used up their attempts."
    );
    describe_counter!(
        "diffver_jobs_retried_total",
        "Failed attempts put back in the queue."
    );
    describe_counter!(
        "diffver_jobs_fenced_total",
        "Completions refused because the worker no longer held the lease."
    );
    describe_counter!(
        "diffver_auth_failures_total",
        "Rejected credentials by reason."
    );
    describe_counter!(
        "diffver_rate_limited_total",
        "Requests refused with 429 by limit."
    );
    describe_counter!(
        "diffver_retention_diffs_total",
        "Raw diffs past retention by outcome."
    );
    describe_counter!(
        "diffver_github_webhooks_total",
        "GitHub webhook deliveries by event and result."
    );
    describe_counter!("diffver_publish_total", "Check-run steps published.");
    describe_counter!(
        "diffver_publish_failures_total",
        "Failed publish calls by kind (each is retried or goes dead)."
    );
    describe_counter!(
        "diffver_publish_dead_total",
        "Publishes that failed too often and wait for an admin's redrive."
    );
    describe_gauge!("diffver_queue_jobs", "Jobs by status.");
    describe_gauge!(
        "diffver_queue_oldest_age_seconds",
        "Age of the oldest queued job."
    );
}

/// Sets the queue gauges from the database (every process reads the same numbers:
/// aggregate them with `max`, not `sum`). Called by workers' maintenance and on every
/// scrape of `/metrics`, so API-only and worker-only processes both export them.
pub async fn record_queue_stats<S: diffver_store::Store>(store: &S, now: diffver_store::Millis) {
    if let Ok(q) = store.queue_stats().await {
        metrics::gauge!("diffver_queue_jobs", "status" => "queued").set(q.queued as f64);
        metrics::gauge!("diffver_queue_jobs", "status" => "running").set(q.running as f64);
        metrics::gauge!("diffver_queue_jobs", "status" => "dead_letter").set(q.dead_letter as f64);
        let age = q
            .oldest_queued
            .map_or(0.0, |t| ((now.0 - t.0).max(0) as f64) / 1000.0);
        metrics::gauge!("diffver_queue_oldest_age_seconds").set(age);
    }
}

/// Registers every counter series an alert or dashboard reads at zero, so that
/// `rate()` and `increase()` see a series from the first scrape (an absent series
/// never fires an alert).
pub fn register_series() {
    for d in ["pass", "fail", "error"] {
        metrics::counter!("diffver_scans_total", "decision" => d).increment(0);
    }
    for r in [
        "missing",
        "malformed",
        "invalid",
        "forbidden",
        "github_signature",
    ] {
        metrics::counter!("diffver_auth_failures_total", "reason" => r).increment(0);
    }
    for l in ["rate", "in_flight"] {
        metrics::counter!("diffver_rate_limited_total", "limit" => l).increment(0);
    }
    metrics::counter!("diffver_jobs_dead_lettered_total").increment(0);
    metrics::counter!("diffver_jobs_retried_total").increment(0);
    metrics::counter!("diffver_jobs_fenced_total").increment(0);
    for o in ["deleted", "already_gone", "failed"] {
        metrics::counter!("diffver_retention_diffs_total", "outcome" => o).increment(0);
    }
    for k in ["transient", "rate_limited", "permanent", "storage"] {
        metrics::counter!("diffver_publish_failures_total", "target" => "github", "kind" => k)
            .increment(0);
    }
    metrics::counter!("diffver_publish_dead_total", "target" => "github").increment(0);
    for s in ["queued", "in_progress", "annotations", "completed"] {
        metrics::counter!("diffver_publish_total", "target" => "github", "step" => s).increment(0);
    }
}

/// Installs JSON logs on standard error (level from `RUST_LOG`, default `info`).
pub fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_writer(std::io::stderr)
        .try_init();
}
