//! Signing and verifying verdict artifacts (DSSE + in-toto, canonical JSON).
//!
//! `cargo bench --bench artifact`

#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use diffver::artifact::{self, HmacSigner, Keyring, SigningMode};
use diffver::policy::Policy;
use diffver::rules::Ruleset;
use diffver::suppress::Timestamp;
use diffver::verdict::{Inputs, ScanContext, evaluate};

fn bench(c: &mut Criterion) {
    let diff = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/diffs/suspicious-pr.diff"
    ))
    .expect("sample diff");
    let rules = Ruleset::builtin();
    let policy = Policy::builtin("standard").expect("builtin policy");
    let ctx = ScanContext::new(
        "bench",
        Timestamp::from_unix_seconds(1_795_000_000).expect("time"),
    )
    .expect("scan id");
    let v = evaluate(&Inputs::new(&diff, &rules, &policy, &ctx));
    let signer = HmacSigner::deterministic(SigningMode::Development).expect("dev signer");
    let env = artifact::sign(&v, &signer).expect("sign");
    let keys = Keyring::development(SigningMode::Development).expect("dev keyring");
    let mut g = c.benchmark_group("artifact");
    g.bench_function("sign", |b| {
        b.iter(|| artifact::sign(&v, &signer).map(|e| e.len()))
    });
    g.bench_function("verify", |b| {
        b.iter(|| artifact::verify(&env, &keys).map(|p| p.verdict.findings.len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
