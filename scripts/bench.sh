#!/usr/bin/env bash
# bench.sh: leakhunt top / diff against go tool pprof -top / -top -diff_base,
# on the same inputs, in one run: wall time and peak memory (RSS) of each, and
# the ratios.
#
# Inputs:
#   real   a small real heap profile pair, captured 3 s apart from
#          scripts/benchtarget (a Go program serving net/http/pprof);
#   large  a synthetic pair from scripts/genprofile: 760k samples, ~53 MB
#          uncompressed each, the second grown at 1% of its sites.
#
# Each command runs RUNS times (default 3), alternating between the two tools,
# after one warm-up run of each on the small input; the best time is kept, with
# the peak RSS of that run. Output goes to /dev/null for both tools.
#
# go tool pprof is run as the binary `go tool -n pprof` names, so neither side
# pays for the go command in front of it.
#
# Environment: RUNS (default 3), SAMPLES (default 760000), BENCH_OUT (a
# directory for the inputs and binaries; default a new one under /tmp, removed
# at the end unless KEEP=1). Generated profiles never go into the repository.
#
# Takes 5-10 minutes on 2 cores (8 with some other load); most of it is go tool pprof on the
# large profile (~60 s per run of -sample_index=alloc_space). RUNS=1 takes a third.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SAMPLES=${SAMPLES:-760000}

if [[ -z ${EPOCHREALTIME:-} ]]; then
	echo "bench.sh needs bash 5 or newer (EPOCHREALTIME)" >&2
	exit 1
fi
if ! /usr/bin/time -f '%M' true >/dev/null 2>&1; then
	echo "bench.sh needs GNU time at /usr/bin/time (for peak memory): apt-get update && apt-get install -y time" >&2
	exit 1
fi
if ! command -v curl >/dev/null; then
	echo "bench.sh needs curl to capture the real profile: apt-get install -y curl" >&2
	exit 1
fi

OUT=${BENCH_OUT:-$(mktemp -d /tmp/leakhunt-bench.XXXXXX)}
mkdir -p "$OUT"
target_pid=
cleanup() {
	if [[ -n $target_pid ]]; then kill "$target_pid" 2>/dev/null || true; fi
	if [[ -z ${BENCH_OUT:-} && ${KEEP:-0} != 1 ]]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT

echo "== building leakhunt, genprofile, benchtarget" >&2
go build -o "$OUT/leakhunt" ./cmd/leakhunt
go build -o "$OUT/genprofile" ./scripts/genprofile
go build -o "$OUT/benchtarget" ./scripts/benchtarget
PPROF=$(go tool -n pprof)

echo "== capturing the real profile pair from benchtarget" >&2
"$OUT/benchtarget" -addr 127.0.0.1:0 >"$OUT/benchtarget.out" 2>&1 &
target_pid=$!
addr=
for _ in $(seq 50); do
	addr=$(sed -n 's/^listening on //p' "$OUT/benchtarget.out")
	[[ -n $addr ]] && break
	sleep 0.1
done
if [[ -z $addr ]]; then
	echo "benchtarget did not start: $(cat "$OUT/benchtarget.out")" >&2
	exit 1
fi
sleep 2
curl -sf -o "$OUT/real-old.pb.gz" "http://$addr/debug/pprof/heap"
sleep 3
curl -sf -o "$OUT/real-new.pb.gz" "http://$addr/debug/pprof/heap"
kill "$target_pid"
wait "$target_pid" 2>/dev/null || true
target_pid=

echo "== generating the large profile pair ($SAMPLES samples each)" >&2
"$OUT/genprofile" -samples "$SAMPLES" -o "$OUT/large-old.pb.gz"
"$OUT/genprofile" -samples "$SAMPLES" -grow 3 -o "$OUT/large-new.pb.gz"

size() { # compressed and uncompressed size in MB
	awk -v z="$(stat -c %s "$1")" -v r="$(gzip -dc "$1" | wc -c)" 'BEGIN { printf "%.2f MB gzip, %.2f MB raw", z / 1e6, r / 1e6 }'
}

# measure NAME CMD...: runs CMD once, appends "seconds KB" to $OUT/NAME:
# wall time from bash's microsecond clock (GNU time's %e has only 10 ms),
# peak RSS from GNU time.
measure() {
	local name=$1 start end
	shift
	start=$EPOCHREALTIME
	if ! /usr/bin/time -f '%M' -o "$OUT/time.tmp" "$@" >/dev/null 2>"$OUT/stderr.tmp"; then
		echo "failed: $*" >&2
		cat "$OUT/stderr.tmp" >&2
		exit 1
	fi
	end=$EPOCHREALTIME
	awk -v s="$start" -v e="$end" -v m="$(tail -n 1 "$OUT/time.tmp")" 'BEGIN { printf "%.3f %d\n", e - s, m }' >>"$OUT/$name"
}

# best NAME: the fastest run's "seconds KB".
best() { sort -n "$OUT/$1" | head -n 1; }

declare -a rows
# compare LABEL "PPROF ARGS" "LEAKHUNT ARGS": RUNS alternating runs of each.
compare() {
	local label=$1 pargs=$2 largs=$3 key
	key=$(echo "$label" | tr -c 'a-zA-Z0-9' '_')
	: >"$OUT/p_$key"
	: >"$OUT/l_$key"
	echo "== $label" >&2
	for _ in $(seq "$RUNS"); do
		# shellcheck disable=SC2086
		measure "p_$key" "$PPROF" $pargs
		# shellcheck disable=SC2086
		measure "l_$key" "$OUT/leakhunt" $largs
	done
	read -r pt pm < <(best "p_$key")
	read -r lt lm < <(best "l_$key")
	rows+=("$(printf '%s|%s|%s|%s|%s' "$label" "$pt" "$lt" "$pm" "$lm")")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Warm-up: load both binaries and the inputs into the page cache.
cat "$OUT"/*.pb.gz >/dev/null
measure warm "$PPROF" -top "$OUT/real-old.pb.gz"
measure warm "$OUT/leakhunt" top "$OUT/real-old.pb.gz"

R1=$OUT/real-old.pb.gz R2=$OUT/real-new.pb.gz L1=$OUT/large-old.pb.gz L2=$OUT/large-new.pb.gz
compare "top  real"                "-top $R1"                          "top $R1"
compare "diff real"                "-top -diff_base $R1 $R2"           "diff $R1 $R2"
compare "top  large"               "-top $L1"                          "top $L1"
compare "top  large alloc_space"   "-top -sample_index=alloc_space $L1" "top --sample alloc_space $L1"
compare "diff large"               "-top -diff_base $L1 $L2"           "diff $L1 $L2"

echo
echo "leakhunt top/diff vs go tool pprof ($(go version | cut -d' ' -f3), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); best of $RUNS)"
echo "load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both tools)"
echo "real: $(size "$R1") / $(size "$R2"); large: $(size "$L1") / $(size "$L2")"
echo
printf '| %-24s | %9s | %9s | %7s | %10s | %10s | %7s |\n' "case" "pprof s" "leakhunt s" "time" "pprof MiB" "leakhunt MiB" "memory"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------" "----------:" "-----------:" "--------:" "-----------:" "-------------:" "--------:"
for r in "${rows[@]}"; do
	IFS='|' read -r label pt lt pm lm <<<"$r"
	awk -v label="$label" -v pt="$pt" -v lt="$lt" -v pm="$pm" -v lm="$lm" 'BEGIN {
		printf "| %-24s | %9.3f | %10.3f | %6.3fx | %10.0f | %12.0f | %6.2fx |\n", label, pt, lt, (pt > 0 ? lt / pt : 0), pm / 1024, lm / 1024, lm / pm
	}'
done
echo
echo "time and memory columns: leakhunt / pprof (below 1 means leakhunt is faster / smaller)"

# The attach pause against dlv (issue: "Benchmark in scripts/bench.sh") has a
# script of its own, since it needs root and a 10k-goroutine patient:
# scripts/bench-attach.sh. Run it from here with ATTACH=1.
if [ "${ATTACH:-0}" = 1 ]; then
	echo
	"$(dirname "$0")/bench-attach.sh"
fi
