//! Load on the service as a user sees it: POST a 50 KB diff with `?wait=10` and time
//! until the verdict comes back, at fixed arrival rates (open loop: requests start on
//! schedule whether or not earlier ones finished), against `diffver serve` processes
//! on the embedded default (SQLite) and on Postgres.
//!
//! ```sh
//! cargo build --release -p diffver-server
//! cargo run --release -p diffver-server --example service_load -- [--backend sqlite|postgres|both]
//!     [--rates 100,200,300,400] [--secs 10] [--kib 50] [--workers N] [--bin target/release/diffver]
//! ```
//!
//! The load generator runs on the same machine as the server; its CPU is counted
//! against the server's. Each request's diff is unique (a counter line is added).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)]

#[path = "../../diffver-store/tests/support/mod.rs"]
mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
    tenant_key: String,
    admin_key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, database_url: Option<&str>, workers: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(
        std::path::Path::new(bin)
            .canonicalize()
            .expect("the diffver binary (--bin)"),
    );
    cmd.current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            &workers.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = database_url {
        cmd.env("DIFFVER_DATABASE_URL", u);
    }
    let mut child = cmd.spawn().unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            let _ = tx2.send(l);
        }
    });
    let (mut base, mut tk, mut ak) = (None, None, None);
    while base.is_none() || tk.is_none() || ak.is_none() {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start");
        if let Some(r) = l.strip_prefix("diffver: listening on http://") {
            base = Some(r.split_whitespace().next().unwrap().to_owned());
        }
        if let Some(k) = l.trim().strip_prefix("tenant key: ") {
            tk = Some(k.trim().to_owned());
        }
        if let Some(k) = l.trim().strip_prefix("admin key:") {
            ak = Some(k.trim().to_owned());
        }
    }
    Server {
        child,
        base: base.unwrap(),
        tenant_key: tk.unwrap(),
        admin_key: ak.unwrap(),
        _dir: dir,
    }
}

/// About `kib` KiB of real source code as one added file.
fn diff_body(kib: usize) -> String {
    let mut src = String::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../diffver-core/src");
    let mut files: Vec<_> = walk(std::path::Path::new(root));
    files.sort();
    for f in files {
        src.push_str(&std::fs::read_to_string(f).unwrap_or_default());
        if src.len() > kib * 1024 {
            break;
        }
    }
    let mut added = String::new();
    for line in src.lines() {
        if added.len() >= kib * 1024 {
            break;
        }
        added.push('+');
        added.push_str(line);
        added.push('\n');
    }
    added
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            v.push(p);
        }
    }
    v
}

fn make_diff(body: &str, n: u64) -> Vec<u8> {
    let lines = body.lines().count() + 1;
    format!(
        "diff --git a/src/gen_{n}.rs b/src/gen_{n}.rs\nnew file mode 100644\n--- /dev/null\n+++ b/src/gen_{n}.rs\n@@ -0,0 +1,{lines} @@\n{body}+// request {n}\n"
    )
    .into_bytes()
}

struct Run {
    rate: u64,
    sent: usize,
    ok: usize,
    lat_ms: Vec<f64>,
    wall: f64,
}

async fn run_rate(
    client: &reqwest::Client,
    srv: &Server,
    body: Arc<String>,
    rate: u64,
    secs: u64,
    seq: &mut u64,
) -> Run {
    let total = rate * secs;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval * (i as u32);
        tokio::time::sleep_until(due.into()).await;
        *seq += 1;
        let (client, url, key, diff) = (
            client.clone(),
            format!("http://{}/v1/scans?wait=10", srv.base),
            srv.tenant_key.clone(),
            make_diff(&body, *seq),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("content-type", "text/x-diff")
                .body(diff)
                .send()
                .await;
            let ok = match r {
                Ok(r) if r.status().as_u16() == 200 => {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    v["status"] == "completed"
                }
                _ => false,
            };
            (ok, t.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut lat = Vec::new();
    let mut ok = 0;
    for t in tasks {
        let (good, ms) = t.await.unwrap();
        if good {
            ok += 1;
            lat.push(ms);
        }
    }
    lat.sort_by(f64::total_cmp);
    Run {
        rate,
        sent: total as usize,
        ok,
        lat_ms: lat,
        wall: start.elapsed().as_secs_f64(),
    }
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn bench(name: &str, srv: &Server, rates: &[u64], secs: u64, kib: usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    // Lift the default tenant's limits: this measures the service, not the limiter.
    let tenants: serde_json::Value = client
        .get(format!("http://{}/v1/admin/tenants", srv.base))
        .bearer_auth(&srv.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tid = tenants["items"][0]["id"].as_str().unwrap();
    let r = client
        .patch(format!("http://{}/v1/admin/tenants/{tid}", srv.base))
        .bearer_auth(&srv.admin_key)
        .json(&serde_json::json!({"rate_per_sec": 100000, "max_in_flight": 100000}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_secs(6)).await; // the limiter's settings cache
    let body = Arc::new(diff_body(kib));
    let mut seq = 0;
    // Warm-up: the ruleset is built once per process.
    run_rate(&client, srv, Arc::clone(&body), 20, 2, &mut seq).await;
    println!(
        "\n{name}: {} KiB diffs, POST ?wait=10 → verdict, open loop, {secs} s per rate",
        kib
    );
    println!(
        "{:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "rate/s", "sent", "done", "done/s", "p50 ms", "p95 ms", "p99 ms"
    );
    for &rate in rates {
        let r = run_rate(&client, srv, Arc::clone(&body), rate, secs, &mut seq).await;
        println!(
            "{:>8} {:>7} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r.rate,
            r.sent,
            r.ok,
            r.ok as f64 / r.wall,
            pct(&r.lat_ms, 0.50),
            pct(&r.lat_ms, 0.95),
            pct(&r.lat_ms, 0.99)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = arg(&args, "--backend").unwrap_or_else(|| "both".into());
    let rates: Vec<u64> = arg(&args, "--rates")
        .unwrap_or_else(|| "100,200,300,400".into())
        .split(',')
        .map(|r| r.parse().unwrap())
        .collect();
    let secs: u64 = arg(&args, "--secs").map_or(10, |s| s.parse().unwrap());
    let kib: usize = arg(&args, "--kib").map_or(50, |s| s.parse().unwrap());
    let workers: usize = arg(&args, "--workers").map_or(2, |s| s.parse().unwrap());
    let bin = arg(&args, "--bin").unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/diffver").into()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if backend == "sqlite" || backend == "both" {
            let srv = start(&bin, None, workers);
            bench(
                "embedded default (SQLite + local files)",
                &srv,
                &rates,
                secs,
                kib,
            )
            .await;
        }
        if backend == "postgres" || backend == "both" {
            let Some(db) = support::pg().await else {
                println!("Postgres unavailable: skipped");
                return;
            };
            let srv = start(&bin, Some(&db.url), workers);
            bench("Postgres + local files", &srv, &rates, secs, kib).await;
        }
    });
}
