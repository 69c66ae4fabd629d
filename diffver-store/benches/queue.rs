//! Queue benchmark on Postgres: claim+complete throughput with 1, 4 and 16 workers,
//! and enqueue→claim latency of an idle worker woken by LISTEN/NOTIFY.
//!
//! `cargo bench -p diffver-store --bench queue` (needs Postgres at 127.0.0.1:5432,
//! trust auth; each run uses a throw-away database and role). Options, as
//! environment variables: `QUEUE_BENCH_JOBS` (default 20000), `QUEUE_BENCH_BATCH`
//! (jobs per claim and per completion, default 32), `QUEUE_BENCH_SYNC_COMMIT`
//! (`on`, the default, or `off`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diffver_store::{ClaimOptions, Decision, Millis, ScanOutputs, Store, WorkerId};
use support::{T0, new_scan};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn throughput(workers: usize, jobs: usize, batch: i64, sync_commit: bool) -> f64 {
    let Some(db) = support::pg_with(|mut c| {
        c.max_connections = u32::try_from(workers + 2).unwrap_or(32);
        c.synchronous_commit = sync_commit;
        c
    })
    .await
    else {
        std::process::exit(1);
    };
    let store = Arc::new(db.store.clone());
    let mut tenants = Vec::new();
    for i in 0..4 {
        tenants.push(
            store
                .create_tenant(&format!("t{i}"), 30, T0)
                .await
                .expect("tenant"),
        );
    }
    // Bulk-load the backlog (the enqueue path is measured by the latency run).
    let mut admin = db.admin().await;
    for (i, t) in tenants.iter().enumerate() {
        let per = jobs / tenants.len();
        sqlx::query(
            "INSERT INTO scans (tenant_id, id, status, diff_sha256, diff_size, source, source_metadata, created_ms) \
             SELECT $1, 'bench-' || $2 || '-' || g, 'queued', 'x', 1, 'bench', '{}', 0 FROM generate_series(1, $3) g",
        )
        .bind(t.id.as_str())
        .bind(i64::try_from(i).expect("i"))
        .bind(i64::try_from(per).expect("per"))
        .execute(&mut admin)
        .await
        .expect("scans");
        sqlx::query(
            "INSERT INTO scan_jobs (tenant_id, scan_id, status, run_at_ms, max_attempts, created_ms, updated_ms) \
             SELECT $1, 'bench-' || $2 || '-' || g, 'queued', 0, 5, 0, 0 FROM generate_series(1, $3) g",
        )
        .bind(t.id.as_str())
        .bind(i64::try_from(i).expect("i"))
        .bind(i64::try_from(per).expect("per"))
        .execute(&mut admin)
        .await
        .expect("jobs");
    }
    sqlx::query("ANALYZE")
        .execute(&mut admin)
        .await
        .expect("analyze");
    let total = (jobs / tenants.len()) * tenants.len();
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let opts = ClaimOptions {
                worker: WorkerId::new(format!("bench-{w}")).expect("worker"),
                max_jobs: batch,
                lease_ms: 60_000,
            };
            let mut n = 0usize;
            loop {
                let now = T0.plus_ms(1);
                let leases = store.claim(&opts, now).await.expect("claim");
                if leases.is_empty() {
                    return n;
                }
                n += leases.len();
                let done = leases
                    .into_iter()
                    .map(|l| {
                        (
                            l,
                            ScanOutputs {
                                decision: Some(Decision::Pass),
                                ..ScanOutputs::default()
                            },
                        )
                    })
                    .collect();
                let report = store.complete_batch(done, now).await.expect("complete");
                assert!(report.fenced.is_empty());
            }
        }));
    }
    let mut done = 0;
    for h in handles {
        done += h.await.expect("worker");
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(done, total, "every job completed exactly once");
    total as f64 / secs
}

async fn latency(samples: usize) -> (f64, f64, f64) {
    let Some(db) = support::pg().await else {
        std::process::exit(1)
    };
    let store = db.store.clone();
    let tenant = store.create_tenant("lat", 30, T0).await.expect("tenant");
    let mut waiter = store.job_waiter().await.expect("listen");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let worker = {
        let store = store.clone();
        tokio::spawn(async move {
            let opts = ClaimOptions {
                worker: WorkerId::new("lat").expect("w"),
                max_jobs: 8,
                lease_ms: 60_000,
            };
            let mut claimed = Vec::new();
            while claimed.len() < samples {
                let leases = store.claim(&opts, Millis(T0.0 + 1)).await.expect("claim");
                if leases.is_empty() {
                    // Polling stays the floor (1 s); NOTIFY is what wakes us in practice.
                    let _ = waiter.wait(Duration::from_secs(1)).await.expect("wait");
                    continue;
                }
                let at = Instant::now();
                for l in leases {
                    claimed.push(at);
                    store
                        .complete(&l, ScanOutputs::default(), Millis(T0.0 + 2))
                        .await
                        .expect("complete");
                }
            }
            claimed
        })
    };
    let mut sent = Vec::new();
    for i in 0..samples {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t0 = Instant::now();
        store
            .create_scan(&tenant.id, new_scan(&format!("l{i}")), T0)
            .await
            .expect("enqueue");
        sent.push(t0);
        let _ = tx.send(t0);
    }
    drop(tx);
    while rx.recv().await.is_some() {}
    let claimed = worker.await.expect("worker");
    let mut ms: Vec<f64> = sent
        .iter()
        .zip(&claimed)
        .map(|(s, c)| c.saturating_duration_since(*s).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    (q(0.5), q(0.95), q(0.99))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let jobs = env_num("QUEUE_BENCH_JOBS", 20_000);
    let batch = i64::try_from(env_num("QUEUE_BENCH_BATCH", 32)).unwrap_or(32);
    let sync_commit = std::env::var("QUEUE_BENCH_SYNC_COMMIT").map_or(true, |v| v != "off");
    println!(
        "queue bench: {jobs} jobs over 4 tenants, batch {batch}, synchronous_commit {}",
        if sync_commit { "on" } else { "off" }
    );
    for workers in [1, 4, 16] {
        let rate = throughput(workers, jobs, batch, sync_commit).await;
        println!("claim+complete, {workers:>2} workers: {rate:>8.0} jobs/s");
    }
    let (p50, p95, p99) = latency(300).await;
    println!(
        "enqueue->claim (LISTEN/NOTIFY, 300 samples): p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms"
    );
}
