#!/usr/bin/env bash
# compare.sh: run the SDK and its baselines alternately (A B A B …) in one
# process, over ROUNDS rounds, and print median ratios; then the paired
# harness (bench/paired_test.go): PAIRED_ROUNDS rounds, each giving one
# SDK ÷ bare ratio per mode, summarised as median (with a 95% confidence
# interval), IQR, how many rounds the SDK was the slower, and CPU ratio.
#
#   bash bench/compare.sh                 # all benchmarks, 5 rounds of 1s each
#   ROUNDS=7 BENCH='Send$' bash bench/compare.sh
#   BENCH=none PAIRED_ROUNDS=40 bash bench/compare.sh   # the paired harness only
#
# Ratios, not absolute times: these machines are shared and noisy, but both
# sides of a ratio ran in the same process, interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
PAIRED_ROUNDS=${PAIRED_ROUNDS:-20}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
out=bench/results
mkdir -p "$out"
raw="$out/raw.txt"

echo "running: LISA_BENCH_ROUNDS=$ROUNDS go test -run '^\$' -bench '$BENCH' -benchtime $BENCHTIME ./bench/" >&2
LISA_BENCH_ROUNDS=$ROUNDS go test -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" ./bench/ | tee "$raw" >&2

# One line per result: key impl ns/op B/op allocs/op (round and impl taken
# out of the name), sorted so that each group's median is its middle line.
awk '/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  impl = name; sub(/.*\/impl=/, "", impl)
  key = name; sub(/\/impl=[^\/]*$/, "", key); sub(/\/round=[0-9]+/, "", key); sub(/^Benchmark/, "", key)
  ns = ""; b = "-"; a = "-"
  for (i = 2; i <= NF; i++) {
    if ($i == "ns/op") ns = $(i-1)
    if ($i == "B/op") b = $(i-1)
    if ($i == "allocs/op") a = $(i-1)
  }
  if (ns != "") print key, impl, ns, b, a
}' "$raw" | sort -k1,1 -k2,2 -k3,3g > "$out/results.txt"

# Medians per (key, impl).
awk '
function flush() { if (n) { m = int((n + 1) / 2); print k, im, v[m], bb[m], aa[m], n } }
{ if ($1 != k || $2 != im) { flush(); k = $1; im = $2; n = 0 }
  n++; v[n] = $3; bb[n] = $4; aa[n] = $5 }
END { flush() }' "$out/results.txt" > "$out/medians.txt"

# The table: each SDK row against each baseline of the same benchmark.
echo
echo "| benchmark | baseline | SDK ns/op | baseline ns/op | SDK ÷ baseline | speed-up | SDK B/op | SDK allocs/op | baseline allocs/op | rounds |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk '
{ ns[$1 SUBSEP $2] = $3; b[$1 SUBSEP $2] = $4; a[$1 SUBSEP $2] = $5; r[$1 SUBSEP $2] = $6
  if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
  impls[$1] = impls[$1] " " $2 }
END {
  for (i = 1; i <= n; i++) {
    k = order[i]; s = k SUBSEP "sdk"
    if (!(s in ns)) continue
    m = split(impls[k], list, " ")
    for (j = 1; j <= m; j++) {
      base = list[j]; if (base == "sdk") continue
      q = k SUBSEP base
      printf "| %s | %s | %.0f | %.0f | %.3f | %.2f× | %s | %s | %s | %d |\n", k, base, ns[s], ns[q], ns[s] / ns[q], ns[q] / ns[s], b[s], a[s], a[q], r[s]
    }
  }
}' "$out/medians.txt"

if ! command -v benchstat >/dev/null 2>&1; then
  go install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" >&2 || true
fi
if command -v benchstat >/dev/null 2>&1 || [ -x "$(go env GOPATH)/bin/benchstat" ]; then
  echo
  echo "benchstat, SDK against each baseline (rounds as samples):"
  PATH="$PATH:$(go env GOPATH)/bin" benchstat -col /impl -ignore /round "$raw" || true
fi

echo
echo "running: LISA_PAIRED_ROUNDS=$PAIRED_ROUNDS go test -count=1 -run '^TestPaired\$' -v ./bench/" >&2
LISA_PAIRED_ROUNDS=$PAIRED_ROUNDS go test -count=1 -run '^TestPaired$' -v ./bench/ | grep -E '^(\||paired)'
