#!/usr/bin/env bash
# Compares builds of the rule pass on a noisy machine: runs each
# `rules_pass` binary on FILE in turn, N rounds, and prints each one's best
# and median MiB/s. With --same, also checks that every binary writes the
# same findings as the first (one `Debug` line each).
#
#   benches/ab.sh FILE N /tmp/rules_pass.base target/release/examples/rules_pass
#   benches/ab.sh --same FILE 1 /tmp/rules_pass.base target/release/examples/rules_pass
set -euo pipefail
same=0
if [[ ${1:-} == --same ]]; then same=1; shift; fi
[[ $# -ge 3 ]] || { echo "usage: benches/ab.sh [--same] FILE N BIN..." >&2; exit 2; }
file=$1 rounds=$2; shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((r = 1; r <= rounds; r++)); do
  i=0
  for bin in "$@"; do
    "$bin" "$file" 2 "$work/findings.$i" | sed -E 's/.* ([0-9.]+) MiB\/s$/\1/' >> "$work/speed.$i"
    i=$((i + 1))
  done
done
i=0
for bin in "$@"; do
  best=$(sort -n "$work/speed.$i" | tail -1)
  median=$(sort -n "$work/speed.$i" | sed -n "$(( (rounds + 1) / 2 ))p")
  line="$bin: best $best, median $median MiB/s"
  if ((same)); then
    if cmp -s "$work/findings.0" "$work/findings.$i"; then line+=", same findings"; else line+=", DIFFERENT findings"; fi
  fi
  echo "$line"
  i=$((i + 1))
done
