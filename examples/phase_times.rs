//! Times the phases of a scan on a diff file (best of N runs each): building
//! the built-in ruleset (once), read,
//! parse, SHA-256, verification, the rule pass on 1 and 2 threads, and the
//! whole `verdict::evaluate` on 2 threads.
//!
//! ```text
//! cargo run --release --example phase_times -- FILE [RUNS]
//! ```

use diffver::diff::{Limits, parse};
use diffver::policy::Policy;
use diffver::rules::{Ruleset, ScanOptions};
use diffver::suppress::Timestamp;
use diffver::verdict::{self, Inputs, ScanContext};
use sha2::Digest;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: phase_times FILE [RUNS]"))?;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    // The first call builds the built-in ruleset; later calls share it.
    let t = std::time::Instant::now();
    let rules = Ruleset::builtin();
    let build = t.elapsed().as_secs_f64();
    let read = best(runs, || std::fs::read(&path).map(|d| d.len()));
    let diff = std::fs::read(&path)?;
    let limits = Limits::unbounded();
    let parse_s = best(runs, || parse(&diff, &limits).map(|d| d.files().len()));
    let hash = best(runs, || sha2::Sha256::digest(&diff));
    let parsed = parse(&diff, &limits)?;
    let verify = best(runs, || {
        diffver::verify::verify(&parsed, &Default::default())
            .findings()
            .len()
    });
    let rules1 = best(runs, || {
        rules
            .find(&parsed, &ScanOptions::default().with_threads(1))
            .len()
    });
    let rules2 = best(runs, || {
        rules
            .find(&parsed, &ScanOptions::default().with_threads(2))
            .len()
    });
    let policy = Policy::builtin("permissive")?;
    let vrules = verdict::ruleset_for(&policy)?;
    let ctx = ScanContext::new("bench", Timestamp::from_unix_seconds(1_795_000_000)?)?;
    let eval = best(runs, || {
        let mut inputs = Inputs::new(&diff, &vrules, &policy, &ctx);
        inputs.threads = 2;
        verdict::evaluate(&inputs).findings().len()
    });
    let mib = diff.len() as f64 / f64::from(1 << 20);
    println!("{:>20}: {build:.3} s", "build the ruleset");
    for (name, s) in [
        ("read", read),
        ("parse", parse_s),
        ("sha256", hash),
        ("verify", verify),
        ("rules, 1 thread", rules1),
        ("rules, 2 threads", rules2),
        ("evaluate, 2 threads", eval),
    ] {
        println!("{name:>20}: {s:.3} s ({:.0} MiB/s)", mib / s);
    }
    Ok(())
}
