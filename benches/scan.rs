//! Full-ruleset scan throughput: clean code (a realistic ≥ 100 MB diff of
//! real crate sources) and adversarial input dense with near-matches.
//!
//! `cargo bench --bench scan`; `DIFFVER_BENCH_MB` sets the clean size (default 100).

#![allow(clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffver::diff::{Limits, parse};
use diffver::rules::{Ruleset, ScanOptions};
use diffver::scan::{ScanConfig, scan};

#[path = "support/corpus.rs"]
mod corpus;

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("DIFFVER_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let rules = Ruleset::builtin();
    let clean = corpus::build(mb << 20);
    let adv = corpus::adversarial(32 << 20);
    let limits = Limits::unbounded();
    let clean_diff = parse(&clean, &limits).expect("clean corpus parses");
    let adv_diff = parse(&adv, &limits).expect("adversarial corpus parses");
    let opts = ScanOptions::default();

    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("clean", |b| b.iter(|| rules.find(&clean_diff, &opts).len()));
    g.throughput(Throughput::Bytes(adv.len() as u64));
    g.bench_function("adversarial", |b| {
        b.iter(|| rules.find(&adv_diff, &opts).len())
    });
    g.finish();

    // Each built-in pack on its own, over a 16 MiB slice of the clean corpus.
    let slice_len = clean.len().min(16 << 20);
    let cut = clean[..slice_len]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(slice_len, |i| i + 1);
    let slice = parse(&clean[..cut], &limits).expect("slice parses");
    let mut g = c.benchmark_group("pack");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(cut as u64));
    for (name, src) in diffver::rules::BUILTIN_PACKS {
        let pack = Ruleset::from_toml(src, name).expect("built-in pack");
        g.bench_function(name, |b| b.iter(|| pack.find(&slice, &opts).len()));
    }
    g.finish();

    let mut g = c.benchmark_group("full-scan");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("clean", |b| {
        b.iter(|| {
            scan(&clean_diff, &rules, &ScanConfig::default())
                .findings()
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
