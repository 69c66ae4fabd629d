//! Verify a signed verdict (a DSSE envelope) and print what it says.
//!
//! ```text
//! cargo run --example verify_artifact -- verdict.dsse.json
//! ```

use diffver::artifact::{self, KeyMode, Keyring, SigningMode};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "verdict.dsse.json".into());
    let bytes = std::fs::read(&path)?;
    // Production keyrings hold operator keys by id (old keys stay for
    // rotation); this example accepts the published development key, and
    // says so.
    let keys = Keyring::development(SigningMode::Development)?;
    match artifact::verify(&bytes, &keys) {
        Ok(checked) => {
            let v = &checked.verdict;
            println!(
                "valid: {} decided {} with {} finding(s), signed by {}{}",
                v.scan_id,
                v.decision.as_str(),
                v.summary.findings,
                checked.key_id,
                if checked.mode == KeyMode::Development {
                    " (the development key: integrity only, not origin)"
                } else {
                    ""
                }
            );
            for f in v.blocking() {
                println!("  blocking: {} {}", f.rule_id, f.message);
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            std::process::exit(1);
        }
    }
}
