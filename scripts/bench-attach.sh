#!/usr/bin/env bash
# bench-attach.sh: how long `leakhunt snapshot PID` keeps a process stopped,
# side by side with `dlv attach PID` + `goroutines -t` + detach, on the same
# process: 10,000 parked goroutines and ~5,000 memory-profile buckets.
#
# The stopped time is measured from inside the target, independently of both
# tools: scripts/benchattach runs a stall meter, a thread outside the Go
# runtime (pthread, cgo) at real-time priority that wakes every 1 ms and
# records the gaps between two wake-ups. Stopping the process with ptrace
# stops that thread too, so
#
#   stop ms   longest stop = longest gap - 1 ms tick
#   stopped   the sum of (gap - tick) over every gap of 2 ms or more: the
#             stop plus whatever else held the thread up (machine noise)
#
# are read after each run (the meter is reset before it). Next to them:
# "go ms", the same longest stop seen by a goroutine locked to a real-time
# thread (it also feels Go scheduler delays), and for leakhunt "self ms",
# leakhunt's own figure (Capture.Stopped, printed by -v as "target stopped
# ..."). A 2 s idle window before the runs gives the meter's noise floor.
#
# The tools alternate (leakhunt, dlv, leakhunt, dlv, ...) so that a change in
# the machine's load affects both alike. After every run the script checks
# that the target still runs: not traced, not stopped, its meter ticking.
#
# Environment: RUNS (default 5), GOROUTINES (10000), BUCKETS (5000),
# BENCH_OUT (a directory for binaries and outputs; default a new one under
# /tmp, removed at the end unless KEEP=1). dlv is built from the module
# proxy at the version in go.mod into that directory, never into the tree,
# and runs with XDG_CONFIG_HOME there so that it leaves ~/.config alone.
#
# Needs Linux, bash 5 (EPOCHREALTIME), curl, a C compiler for cgo (without
# one the fixture falls back to the Go meter and says so), permission to
# ptrace the fixture (root, or the same user with ptrace_scope 0) and, for a
# meter that is not fooled by a busy CPU, to use SCHED_FIFO (root or
# CAP_SYS_NICE; without it the meters run at normal priority and say so).
# Takes 1 to 2 minutes with RUNS=5, most of it in dlv (5 to 12 s per run).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
GOROUTINES=${GOROUTINES:-10000}
BUCKETS=${BUCKETS:-5000}

if [[ -z ${EPOCHREALTIME:-} ]]; then
	echo "bench-attach.sh needs bash 5 or newer (EPOCHREALTIME)" >&2
	exit 1
fi
if ! command -v curl >/dev/null; then
	echo "bench-attach.sh needs curl to read the stall meter: apt-get install -y curl" >&2
	exit 1
fi

OUT=${BENCH_OUT:-$(mktemp -d /tmp/leakhunt-bench-attach.XXXXXX)}
mkdir -p "$OUT"
fixture_pid=
tool_pid=
cleanup() {
	# A tool still attached is killed first: the kernel detaches a dead
	# tracer's tracees. Then the fixture, which this script started.
	if [[ -n $tool_pid ]]; then kill -KILL "$tool_pid" 2>/dev/null || true; fi
	if [[ -n $fixture_pid ]]; then
		kill -KILL "$fixture_pid" 2>/dev/null || true
		wait "$fixture_pid" 2>/dev/null || true
	fi
	if [[ -z ${BENCH_OUT:-} && ${KEEP:-0} != 1 ]]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { echo "$EPOCHREALTIME"; }
# ms START END: milliseconds between two EPOCHREALTIME readings.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
# field JSON NAME: a number from the meter's one-line JSON.
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }
# gostop JSON: the Go meter's longest gap less one tick.
gostop() { awk -v g="$(field "$1" go_max_gap_ms)" -v t="$(field "$1" tick_ms)" 'BEGIN { printf "%.1f", g - t }'; }

echo "== building leakhunt, dlv (module proxy, version from go.mod) and scripts/benchattach in $OUT" >&2
go build -o "$OUT/leakhunt" ./cmd/leakhunt
go build -o "$OUT/dlv" github.com/go-delve/delve/cmd/dlv
go build -o "$OUT/benchattach" ./scripts/benchattach
dlv_version=$("$OUT/dlv" version | sed -n 's/^Version: //p')

echo "== starting benchattach: $GOROUTINES goroutines, $BUCKETS allocation stacks" >&2
"$OUT/benchattach" -goroutines "$GOROUTINES" -buckets "$BUCKETS" >"$OUT/fixture.out" 2>"$OUT/fixture.err" &
fixture_pid=$!
ready=
for _ in $(seq 300); do
	ready=$(sed -n 's/^ready //p' "$OUT/fixture.out")
	[[ -n $ready ]] && break
	if ! kill -0 "$fixture_pid" 2>/dev/null; then break; fi
	sleep 0.1
done
if [[ -z $ready ]]; then
	echo "benchattach did not start: $(cat "$OUT/fixture.out" "$OUT/fixture.err")" >&2
	exit 1
fi
read -r _ addr ngoroutines priority <<<"$ready"
pid=$fixture_pid
meter() { curl -sf "http://$addr/stall?reset=1"; }

# alive checks that the fixture runs: not traced, not stopped, meter ticking.
alive() {
	local st tracer rep
	st=$(sed -n 's/^State:\s*//p' "/proc/$pid/status" 2>/dev/null) || st=
	tracer=$(sed -n 's/^TracerPid:\s*//p' "/proc/$pid/status" 2>/dev/null) || tracer=
	if [[ -z $st || $st == t* || $st == T* || $tracer != 0 ]]; then
		echo "after $1: the fixture is not running freely (State: ${st:-gone}, TracerPid: ${tracer:-?})" >&2
		exit 1
	fi
	for task in /proc/"$pid"/task/*/status; do
		st=$(sed -n 's/^State:\s*//p' "$task" 2>/dev/null) || st=
		if [[ $st == t* || $st == T* ]]; then
			echo "after $1: thread ${task%/status} of the fixture is stopped (State: $st)" >&2
			exit 1
		fi
	done
	sleep 0.2
	rep=$(curl -sf "http://$addr/stall") || { echo "after $1: the stall meter does not answer" >&2; exit 1; }
	if [[ $(field "$rep" ticks) -lt 50 ]]; then
		echo "after $1: the stall meter is not ticking: $rep" >&2
		exit 1
	fi
}

meter >/dev/null
sleep 2
idle=$(meter)

echo "== machine" >&2
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "cpu:        $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "kernel:     $(uname -r)"
	echo "go:         $(go version | cut -d' ' -f3-)"
	echo "dlv:        $dlv_version"
	echo "fixture:    pid $pid, $ngoroutines goroutines, stall meter $priority"
	echo "load start: $load_start (1, 5, 15 min)"
	echo "idle meter: longest gap $(field "$idle" max_gap_ms) ms over $(field "$idle" window_ms) ms, $(field "$idle" stalls) gaps >= 2 ms"
}

results=$OUT/results
: >"$results"
printf '\n%-9s %3s %10s %10s %10s %10s %10s %6s  %s\n' tool run "stop ms" "stopped" "go ms" "self ms" "wall ms" load1 "what it saw"
for i in $(seq "$RUNS"); do
	# leakhunt
	meter >/dev/null
	snap=$OUT/snap-$i.lhs
	t0=$(now)
	"$OUT/leakhunt" snapshot "$pid" -v -o "$snap" >"$OUT/leakhunt-$i.out" 2>&1 &
	tool_pid=$!
	wait "$tool_pid" || { echo "leakhunt snapshot failed: $(cat "$OUT/leakhunt-$i.out")" >&2; exit 1; }
	tool_pid=
	t1=$(now)
	rep=$(meter)
	alive "leakhunt run $i"
	self=$(sed -n 's/.*target stopped \([0-9.]*\)\(µs\|us\|ms\|s\)$/\1 \2/p' "$OUT/leakhunt-$i.out" |
		awk '{ v = $1; if ($2 == "s") v *= 1000; else if ($2 != "ms") v /= 1000; printf "%.1f", v }')
	saw=$(sed -n 's/^wrote [^:]*: [^,]*, \(.*\)$/\1/p' "$OUT/leakhunt-$i.out")
	samples=$(sed -n 's/^wrote .*, \([0-9]*\) heap samples.*/\1/p' "$OUT/leakhunt-$i.out")
	if [[ -z $samples || $samples -lt $BUCKETS ]]; then
		echo "leakhunt saw ${samples:-no} heap samples, fewer than the $BUCKETS buckets asked for: $(cat "$OUT/leakhunt-$i.out")" >&2
		exit 1
	fi
	rm -f "$snap"
	stop=$(awk -v g="$(field "$rep" max_gap_ms)" -v t="$(field "$rep" tick_ms)" 'BEGIN { printf "%.1f", g - t }')
	stopped=$(awk -v v="$(field "$rep" stalled_ms)" 'BEGIN { printf "%.1f", v }')
	wall=$(ms "$t0" "$t1")
	echo "leakhunt $stop $stopped $self $wall" >>"$results"
	printf '%-9s %3d %10s %10s %10s %10s %10s %6s  %s\n' leakhunt "$i" "$stop" "$stopped" "$(gostop "$rep")" "$self" "$wall" "$(cut -d' ' -f1 /proc/loadavg)" "$saw"

	# dlv attach + goroutines -t + detach
	meter >/dev/null
	printf 'goroutines -t\nexit -d\n' >"$OUT/dlv.init"
	t0=$(now)
	XDG_CONFIG_HOME=$OUT/xdg "$OUT/dlv" attach "$pid" --allow-non-terminal-interactive --init "$OUT/dlv.init" \
		</dev/null >"$OUT/dlv-$i.out" 2>&1 &
	tool_pid=$!
	wait "$tool_pid" || { echo "dlv failed: $(tail -5 "$OUT/dlv-$i.out")" >&2; exit 1; }
	tool_pid=
	t1=$(now)
	rep=$(meter)
	alive "dlv run $i"
	saw=$(grep -o '^\[[0-9]* goroutines\]' "$OUT/dlv-$i.out" | tr -d '[]') || true
	if [[ -z $saw ]]; then
		echo "dlv did not list the goroutines: $(tail -5 "$OUT/dlv-$i.out")" >&2
		exit 1
	fi
	saw="$saw, $(wc -l <"$OUT/dlv-$i.out") lines"
	rm -f "$OUT/dlv-$i.out"
	stop=$(awk -v g="$(field "$rep" max_gap_ms)" -v t="$(field "$rep" tick_ms)" 'BEGIN { printf "%.1f", g - t }')
	stopped=$(awk -v v="$(field "$rep" stalled_ms)" 'BEGIN { printf "%.1f", v }')
	wall=$(ms "$t0" "$t1")
	echo "dlv $stop $stopped - $wall" >>"$results"
	printf '%-9s %3d %10s %10s %10s %10s %10s %6s  %s\n' dlv "$i" "$stop" "$stopped" "$(gostop "$rep")" "-" "$wall" "$(cut -d' ' -f1 /proc/loadavg)" "$saw"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Summary: median (min-max) per tool and column; the ratio of the medians.
echo
echo "load end:   $load_end (1, 5, 15 min)"
echo
awk -v mx="$(awk '$1 == "leakhunt" { if ($2 > m) m = $2 } END { print m + 0 }' "$results")" '
function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
function med(a, n) { return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
function cell(tool, col,   n, i, v) {
	n = cnt[tool]; if (vals[tool, col, 1] == "-") return "-"
	for (i = 1; i <= n; i++) v[i] = vals[tool, col, i] + 0
	sortv(v, n); m[tool, col] = med(v, n)
	return sprintf("%.1f (%.1f-%.1f)", m[tool, col], v[1], v[n])
}
{ c = ++cnt[$1]; for (k = 2; k <= 5; k++) vals[$1, k, c] = $k }
END {
	printf "%-9s %-24s %-24s %-24s %-24s\n", "tool", "longest stop ms", "stopped ms (total)", "self-reported ms", "wall ms"
	printf "%-9s %-24s %-24s %-24s %-24s\n", "", "median (min-max)", "median (min-max)", "median (min-max)", "median (min-max)"
	for (t = 1; t <= 2; t++) {
		tool = t == 1 ? "leakhunt" : "dlv"
		printf "%-9s %-24s %-24s %-24s %-24s\n", tool, cell(tool, 2), cell(tool, 3), cell(tool, 4), cell(tool, 5)
	}
	r = m["leakhunt", 2] / m["dlv", 2]
	printf "\nleakhunt/dlv, median longest stop: %.4f (dlv stops the process %.0fx longer)\n", r, 1 / r
	printf "leakhunt/dlv, median wall time:    %.4f\n", m["leakhunt", 5] / m["dlv", 5]
	printf "goal: longest stop under 100 ms:   %s (every run: max %.1f ms, median %.1f ms)\n", mx < 100 ? "met" : "NOT met", mx, m["leakhunt", 2]
	printf "goal: at most a tenth of dlv:      %s\n", r <= 0.1 ? "met" : "NOT met"
}' "$results"
