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

/// Lines that hit many keywords, encodings and Unicode slow paths without
/// being real findings.
fn adversarial(min_bytes: usize) -> Vec<u8> {
    const NEAR: &[&str] = &[
        "// ignore the token; skip the previous step; cancel the override; forget the cache",
        "let secret_token_password_api_key = compute(); // https://example.com/a?b=c",
        "x = \"QWxhZGRpbjpvcGVuIHNlc2FtZQ1234567890abcdefABCDEF+/QWxhZGRpbjpvcGVuIHNlc2FtZQ\"",
        "<!-- note: the agent layout is documented below; see ![diagram](https://example.com/d.png) -->",
        "run: echo ${{ github.event.pull_request.number }} ${{ matrix.os }} >> $GITHUB_OUTPUT",
        "curl -o out.txt https://example.com/file && wget -q https://example.com/other",
        "caf\u{e9} na\u{ef}ve \u{65e5}\u{672c}\u{8a9e} \u{43f}\u{440}\u{438}\u{432}\u{435}\u{442} \u{2764}\u{fe0f} ignore previous errors",
        "%41%42 &amp; &lt; \\x41 \\u0042 eyJhbGciOiJIUzI1NiJ9 AKIA1234 ghp_short sk_test_",
        "requests.get(url, timeout=5); open(path, 'wb'); os.chmod(path, 0o644)",
        "source = \"registry+https://github.com/rust-lang/crates.io-index\" uses: actions/checkout@v4",
    ];
    let mut out = Vec::with_capacity(min_bytes + 4096);
    let mut n = 0usize;
    while out.len() < min_bytes {
        let body: Vec<&str> = (0..200).map(|i| NEAR[(i + n) % NEAR.len()]).collect();
        out.extend_from_slice(
            format!(
                "diff --git a/adv/f{n}.rs b/adv/f{n}.rs\nnew file mode 100644\n--- /dev/null\n+++ b/adv/f{n}.rs\n@@ -0,0 +1,{} @@\n",
                body.len()
            )
            .as_bytes(),
        );
        for l in body {
            out.push(b'+');
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        n += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("DIFFVER_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let rules = Ruleset::builtin();
    let clean = corpus::build(mb << 20);
    let adv = adversarial(32 << 20);
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
