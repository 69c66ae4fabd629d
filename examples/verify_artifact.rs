//! Verify a signed verdict (a DSSE envelope) and print what it says.
//!
//! ```text
//! cargo run --example verify_artifact -- verdict.dsse.json
//! ```

use diffver::artifact::{self, Keyring};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "verdict.dsse.json".into());
    let bytes = std::fs::read(&path)?;
    // Production keyrings hold operator keys by id; old keys stay for rotation.
    let keys = Keyring::development();
    match artifact::verify(&bytes, &keys) {
        Ok(v) => {
            println!(
                "valid: {} decided {} with {} finding(s)",
                v.scan_id, v.decision, v.summary.findings
            );
            for f in v.findings.iter().filter(|f| f.blocking) {
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
