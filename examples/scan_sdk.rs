//! Scan a diff with the SDK: parse, verify, run the built-in rules, decide
//! under a policy, and sign the verdict.
//!
//! ```text
//! cargo run --example scan_sdk -- examples/diffs/suspicious-pr.diff
//! ```

use diffver::artifact::{self, HmacSigner, SigningMode};
use diffver::policy::Policy;
use diffver::suppress::Timestamp;
use diffver::verdict::{self, Inputs, ScanContext};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/diffs/suspicious-pr.diff".into());
    let diff = std::fs::read(&path)?;

    let policy = Policy::builtin("standard")?;
    let rules = verdict::ruleset_for(&policy)?; // compile once, reuse for every scan
    let ctx = ScanContext::new("example", Timestamp::parse_rfc3339("2026-11-29T09:00:00Z")?)?;
    let v = verdict::evaluate(&Inputs::new(&diff, &rules, &policy, &ctx));

    print!(
        "{}",
        diffver::report::text(&diffver::artifact::wire::VerdictV2::from_verdict(&v), &path)
    );
    let envelope = artifact::sign(&v, &HmacSigner::deterministic(SigningMode::Development)?)?;
    std::fs::write("verdict.dsse.json", &envelope)?;
    println!(
        "signed verdict written to verdict.dsse.json ({} bytes)",
        envelope.len()
    );
    Ok(())
}
