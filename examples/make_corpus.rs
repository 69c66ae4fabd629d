//! Writes the benchmark corpus (a large realistic diff built from the crate
//! sources under `~/.cargo/registry/src`) to a file, for measuring the CLI:
//!
//! ```text
//! cargo run --release --example make_corpus -- /tmp/big.diff 64
//! /usr/bin/time -v target/release/diffver stat /tmp/big.diff > /dev/null
//! ```
//!
//! A third argument picks the kind: `mixed` (the default: add, modify,
//! rename and delete patches), `added` (add-file patches only) or
//! `adversarial` (lines dense with near-matches, as `benches/scan.rs`).

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: make_corpus OUT [MB] [mixed|added|adversarial]"))?;
    let mb: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let diff = match args.next().as_deref().unwrap_or("mixed") {
        "mixed" => corpus::build(mb << 20),
        "added" => corpus::build_with(mb << 20, false),
        "adversarial" => corpus::adversarial(mb << 20),
        other => anyhow::bail!("unknown kind {other:?}: mixed, added or adversarial"),
    };
    std::fs::write(&path, &diff)?;
    println!("wrote {} bytes to {path}", diff.len());
    Ok(())
}
