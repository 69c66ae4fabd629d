//! Measures false positives: scans "add file" diffs built from the crate
//! sources under `~/.cargo/registry/src` (real code written by others) with
//! the built-in rules, and reports findings per 100 MB by severity, per rule,
//! and every high or critical finding for review.
//!
//! With `--root DIR` (repeatable) it reads the Python, JavaScript, Ruby, Go,
//! shell and Markdown files under those trees instead (site-packages, the
//! Python standard library), once each: the languages the code-execution rules
//! read, which the registry's Rust sources hardly exercise.
//!
//! ```text
//! cargo run --release --example false_positives -- [MB] [--list medium] [--root DIR]...
//! ```

#[path = "../benches/support/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;

use diffver::diff::{Limits, parse};
use diffver::finding::Severity;
use diffver::rules::Ruleset;
use diffver::scan::{ScanConfig, scan};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(110);
    let list = match args
        .iter()
        .position(|a| a == "--list")
        .and_then(|i| args.get(i + 1))
    {
        Some(s) if s == "medium" => Severity::Medium,
        Some(s) if s == "low" => Severity::Low,
        _ => Severity::High,
    };
    let roots: Vec<std::path::PathBuf> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--root")
        .filter_map(|(i, _)| args.get(i + 1).map(Into::into))
        .collect();
    let diff = if roots.is_empty() {
        corpus::build_with(mb << 20, false)
    } else {
        // Each file once: `mb` only bounds the size.
        corpus::build_from(&roots, corpus::SCRIPT_EXTS, mb << 20, false, false)
    };
    let parsed = parse(&diff, &Limits::unbounded())?;
    let rules = Ruleset::builtin();
    let t = std::time::Instant::now();
    let verified = diffver::verify::verify(&parsed, &Default::default());
    let verify_secs = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let report = scan(&parsed, &rules, &ScanConfig::default());
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "verify alone: {verify_secs:.2}s ({} findings); full scan: {secs:.2}s",
        verified.findings().len()
    );
    let size = diff.len() as f64 / (1 << 20) as f64;
    let mut by_sev: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<(String, Severity), usize> = BTreeMap::new();
    for f in report
        .findings()
        .iter()
        .filter(|f| !f.rule_id().starts_with("verify."))
    {
        *by_sev.entry(f.severity()).or_default() += 1;
        *by_rule
            .entry((f.rule_id().to_owned(), f.severity()))
            .or_default() += 1;
    }
    println!(
        "{:.1} MiB of clean code in {} files, {} added lines; scanned in {secs:.2}s ({:.0} MiB/s)",
        size,
        parsed.files().len(),
        parsed
            .files()
            .iter()
            .map(|f| f.line_counts().0)
            .sum::<usize>(),
        size / secs
    );
    println!("rule findings per 100 MiB by severity:");
    for (s, n) in by_sev.iter().rev() {
        println!("  {s:>8}: {:.1} ({n} total)", *n as f64 * 100.0 / size);
    }
    println!("by rule:");
    for ((r, s), n) in &by_rule {
        println!("  {n:>6} {s:>8} {r}");
    }
    println!("findings at or above {list}:");
    for f in report
        .findings()
        .iter()
        .filter(|f| !f.rule_id().starts_with("verify.") && f.severity() >= list)
    {
        let l = f.location();
        println!(
            "  {} {} {}:{} | {}",
            f.severity(),
            f.rule_id(),
            l.path.as_deref().unwrap_or("-"),
            l.line.unwrap_or(0),
            f.evidence().unwrap_or("")
        );
    }
    Ok(())
}
