//! Times the built-in ruleset alone (`Ruleset::find`, single-threaded, the
//! diff parsed beforehand) on a diff file, best of N runs: the loop to run
//! under `perf record` when profiling the rule engine.
//!
//! ```text
//! cargo run --release --example rules_pass -- FILE [RUNS] [DUMP]
//! ```
//!
//! With `DUMP`, the findings of the last run are written there (one `Debug`
//! line each), to compare two builds of the engine finding for finding.

use diffver::diff::{Limits, parse};
use diffver::rules::{Ruleset, ScanOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: rules_pass FILE [RUNS]"))?;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let bytes = std::fs::read(&path)?;
    let diff = parse(&bytes, &Limits::unbounded())?;
    let rules = Ruleset::builtin();
    let dump = args.next();
    let opts = ScanOptions::default();
    let mut best = f64::MAX;
    let mut findings = Vec::new();
    for _ in 0..runs.max(1) {
        let t = std::time::Instant::now();
        findings = rules.find(&diff, &opts);
        best = best.min(t.elapsed().as_secs_f64());
    }
    if let Some(dump) = dump {
        let text: String = findings.iter().map(|f| format!("{f:?}\n")).collect();
        std::fs::write(dump, text)?;
    }
    let findings = findings.len();
    let mib = bytes.len() as f64 / f64::from(1 << 20);
    println!(
        "{mib:.1} MiB, {findings} findings, best of {runs}: {:.3} s, {:.1} MiB/s",
        best,
        mib / best
    );
    Ok(())
}
