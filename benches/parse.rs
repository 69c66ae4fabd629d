//! Parser throughput on a large realistic diff (≥ 50 MB of real crate sources).
//!
//! `cargo bench --bench parse`; set `DIFFVER_BENCH_MB` to change the size.

#![allow(clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffver::diff::{Limits, parse};
use diffver::verify::{Options, verify};

#[path = "support/corpus.rs"]
mod corpus;

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("DIFFVER_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let input = corpus::build(mb << 20);
    let limits = Limits::unbounded();
    let mut g = c.benchmark_group("diff");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    g.bench_function("parse", |b| {
        b.iter(|| parse(&input, &limits).map(|d| d.files().len()))
    });
    let parsed = parse(&input, &limits).expect("corpus parses");
    g.bench_function("verify", |b| {
        b.iter(|| verify(&parsed, &Options::default()).findings().len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
