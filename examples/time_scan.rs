//! Times `verdict::evaluate` on a diff file (best of N runs), for comparing
//! with the Python bindings (`diffver-py/bench/bench_overhead.py`).
//!
//! ```text
//! cargo run --release --example time_scan -- FILE [RUNS]
//! ```

use diffver::policy::Policy;
use diffver::suppress::Timestamp;
use diffver::verdict::{self, Inputs, ScanContext};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: time_scan FILE [RUNS]"))?;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let diff = std::fs::read(&path)?;
    let policy = Policy::builtin("standard")?;
    let rules = verdict::ruleset_for(&policy)?;
    let ctx = ScanContext::new("bench", Timestamp::from_unix_seconds(1_795_000_000)?)?;
    let mut best = f64::MAX;
    let mut findings = 0;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let v = verdict::evaluate(&Inputs::new(&diff, &rules, &policy, &ctx));
        best = best.min(t.elapsed().as_secs_f64());
        findings = v.findings().len();
    }
    println!(
        "rust: {} bytes, {findings} findings, best of {runs}: {:.2} ms",
        diff.len(),
        best * 1e3
    );
    Ok(())
}
