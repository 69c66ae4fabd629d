"""Python overhead over Rust for the same scan (best of N runs).

    cargo run --release --example make_corpus -- /tmp/bench.diff 2
    cargo run --release --example time_scan -- /tmp/bench.diff
    python diffver-py/bench/bench_overhead.py /tmp/bench.diff
"""

import sys
import time

import diffver

path = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
data = open(path, "rb").read()
policy = diffver.Policy.builtin("standard")
rules = diffver.Ruleset.builtin()
best = float("inf")
n = 0
for _ in range(runs):
    t = time.perf_counter()
    r = diffver.scan(data, policy=policy, rules=rules, now="2026-11-29T09:00:00Z", scan_id="bench")
    n = len(r.findings)
    best = min(best, time.perf_counter() - t)
print(f"python: {len(data)} bytes, {n} findings, best of {runs}: {best * 1e3:.2f} ms")
