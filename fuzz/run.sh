#!/usr/bin/env bash
# Runs one fuzz target for a bounded time with the machine's stable toolchain.
#
#   bash fuzz/run.sh TARGET SECONDS      # targets: parse scan load_rules_policy verify_artifact
#
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable
# compiler accept them. Seeds come from the test fixtures, the sample diffs,
# the labeled corpus (../shared/corpus), the built-in rule packs and a signed
# artifact; crashes land in fuzz/artifacts/TARGET and must become regression
# tests.
set -euo pipefail
cd "$(dirname "$0")"
target="$1"
secs="${2:-60}"
export RUSTC_BOOTSTRAP=1
corpus="corpus/$target"
mkdir -p "$corpus"
case "$target" in
  parse|scan)
    cp ../tests/fixtures/verify/*.diff ../tests/fixtures/input/* ../examples/diffs/*.diff "$corpus"/ 2>/dev/null || true
    if [ -d ../../shared/corpus ]; then
      find ../../shared/corpus -type f -size -64k ! -name LICENSE -exec cp {} "$corpus"/ \; 2>/dev/null || true
    fi
    ;;
  load_rules_policy)
    cp ../diffver-core/src/rules/builtin/*.toml "$corpus"/
    printf 'schema = "diffver.policy/v1"\nid = "x"\nblock_at = "high"\n[[override]]\npaths = ["a/**"]\nblock_at = "low"\n[[exception]]\nrule = "a.b"\nreason = "r"\nauthor = "a"\nexpires_at = "2027-01-01T00:00:00Z"\n' > "$corpus/policy.toml"
    printf '{"schema":"diffver.baseline/v1","findings":[{"fingerprint":"ab","rule":"x.y"}]}' > "$corpus/baseline.json"
    ;;
  verify_artifact)
    cp ../tests/vectors/*.dsse.json ../tests/vectors/forged/*.dsse.json "$corpus"/
    bin="${DIFFVER_BIN:-${CARGO_TARGET_DIR:-../target}/debug/diffver}"
    if [ -x "$bin" ]; then
      "$bin" scan --now 2026-01-01T00:00:00Z --artifact "$corpus/a.json" ../examples/diffs/suspicious-pr.diff >/dev/null || true
      printf 'a fuzzing key of at least 32 bytes\n' > "$corpus/../op.key"
      "$bin" scan --now 2026-01-01T00:00:00Z --key-id op --key-file "$corpus/../op.key" --artifact "$corpus/op.json" ../examples/diffs/suspicious-pr.diff >/dev/null || true
      "$bin" scan --now 2026-01-01T00:00:00Z --artifact "$corpus/b.json" ../examples/diffs/clean.diff >/dev/null || true
    fi
    ;;
esac
exec cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=4096 -max_len=131072 -timeout=20 -print_final_stats=1
