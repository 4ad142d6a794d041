#!/usr/bin/env bash
# bench-refs.sh: heap reference analysis of a live process, leakhunt against
# goref (github.com/cloudwego/goref), side by side on the same process: how
# long each keeps the process stopped, how long each takes, how much memory
# each needs.
#
#   leakhunt objects PID --by root      stops the process to copy its memory,
#                                       detaches, then analyses the copy
#   grf attach PID -o FILE              goref: attaches with delve and walks
#                                       the heap while the process is stopped
#
# The patient is scripts/benchrefs: a heap of ~1.1 GB in ~11 M objects
# (sessions in a map, a slice, linked lists; size "big") and/or ~100 MB in
# ~1 M objects (size "small"), held by package variables, built with the
# default Go toolchain. Its garbage collector is off once the heap is built,
# so both tools see the same heap in every run.
#
# The stopped time is measured inside the patient, by neither tool: a thread
# outside the Go runtime at real-time priority wakes every 1 ms and records
# its longest gap; a ptrace stop stops it too, so the longest gap during a
# tool's run less the 1 ms tick is the longest time the tool kept the
# process stopped. "self" is what the tool itself reports: leakhunt prints
# "stopped DURATION, copied SIZE; walk DURATION, analysis DURATION" on
# stderr; goref reports no pause.
#
# Per tool and size: wall time (exec to exit), the measured stop, the
# self-reported stop, the tool's CPU time (user + system) and peak RSS (GNU
# time), and what it saw; then the medians, the ratios leakhunt/goref and
# the issue's goals (stop <= goref/50, wall <= goref/2).
#
# goref is built outside the repository, into BENCH_OUT, from:
#   GOREF=/path/to/grf        a grf binary to use as is, or
#   GOREF_SRC=DIR             a goref git directory (as the fetch tool leaves
#                             it, e.g. /work/.mirror/cloudwego+goref/repo) or
#                             a checkout; default: that mirror path, or
#                             else `git clone https://github.com/cloudwego/goref`
#   GOREF_DELVE=VERSION       `go get github.com/go-delve/delve@VERSION` and
#                             `go mod tidy` in the clone before building
#                             (default: build with goref's own go.mod; if
#                             that fails, retry with v1.27.2, the delve in
#                             leakhunt's go.mod)
# goref's module dependencies come from the Go module proxy. When goref
# cannot be had, it is skipped with a message and leakhunt runs alone; when
# `leakhunt objects` does not exist yet, goref runs alone.
#
# Environment: SIZES ("small big"), RUNS (1; runs alternate the tools),
# TOOLS ("leakhunt goref"), BENCH_OUT (a directory for binaries and outputs;
# default a new one under /tmp, removed at the end unless KEEP=1).
# Needs Linux, bash 5, curl, GNU time (apt-get update && apt-get install -y
# time), git, a C compiler (cgo, for the thread meter), permission to ptrace
# (root, or ptrace_scope 0), root or CAP_SYS_NICE for the meter's real-time
# priority, and ~4 GB of free memory for the big size (1.2 GB patient, the
# tool's copy and graph). With the defaults it takes 2 to 4 minutes on a
# quiet machine, one of them goref on the big heap; several times that
# under load.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-small big}
RUNS=${RUNS:-1}
TOOLS=${TOOLS:-leakhunt goref}

if [[ -z ${EPOCHREALTIME:-} ]]; then
	echo "bench-refs.sh needs bash 5 or newer (EPOCHREALTIME)" >&2
	exit 1
fi
for cmd in curl git; do
	if ! command -v "$cmd" >/dev/null; then
		echo "bench-refs.sh needs $cmd: apt-get install -y $cmd" >&2
		exit 1
	fi
done
if ! /usr/bin/time -f %M true >/dev/null 2>&1; then
	echo "bench-refs.sh needs GNU time at /usr/bin/time: apt-get update && apt-get install -y time" >&2
	exit 1
fi
for s in $SIZES; do
	case $s in
	small | big) ;;
	*)
		echo "bench-refs.sh: unknown size $s in SIZES: use small and/or big (SIZES='small big')" >&2
		exit 2
		;;
	esac
done

OUT=${BENCH_OUT:-$(mktemp -d /tmp/leakhunt-bench-refs.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
target_pid=
tool_pid=
cleanup() {
	# A tool still attached is killed first: the kernel detaches a dead
	# tracer's tracees. Then the patient, which this script started.
	if [[ -n $tool_pid ]]; then kill -KILL "$tool_pid" 2>/dev/null || true; fi
	if [[ -n $target_pid ]]; then
		kill -KILL "$target_pid" 2>/dev/null || true
		wait "$target_pid" 2>/dev/null || true
	fi
	if [[ -z ${BENCH_OUT:-} && ${KEEP:-0} != 1 ]]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { echo "$EPOCHREALTIME"; }
# field JSON NAME: a number from the meter's one-line JSON.
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }
has() { [[ " $TOOLS " == *" $1 "* ]]; }

echo "== building scripts/benchrefs and leakhunt in $OUT" >&2
go build -o "$OUT/benchrefs" ./scripts/benchrefs
use_leakhunt=0
if has leakhunt; then
	if ! go build -o "$OUT/leakhunt" ./cmd/leakhunt 2>"$OUT/leakhunt-build.log"; then
		echo "== leakhunt does not build (skipping it): $(head -3 "$OUT/leakhunt-build.log")" >&2
	elif "$OUT/leakhunt" objects --help >/dev/null 2>&1; then
		use_leakhunt=1
	else
		echo "== leakhunt has no objects command yet: measuring goref alone" >&2
	fi
fi

# build_goref builds grf from a goref source into $OUT/grf; it prints why not
# and returns 1 when it cannot.
goref_src=${GOREF_SRC:-}
if [[ -z $goref_src && -d /work/.mirror/cloudwego+goref/repo ]]; then goref_src=/work/.mirror/cloudwego+goref/repo; fi
goref_desc=
build_goref() {
	local src=$goref_src dir=$OUT/goref-src commit
	rm -rf "$dir"
	if [[ -n $src ]]; then
		if ! git clone -q "$src" "$dir" 2>"$OUT/goref-build.log"; then
			echo "cannot clone goref from $src: $(tail -1 "$OUT/goref-build.log")"
			return 1
		fi
	elif ! git clone -q --depth 1 https://github.com/cloudwego/goref "$dir" 2>"$OUT/goref-build.log"; then
		echo "no goref source (set GOREF_SRC or GOREF) and cloning github.com/cloudwego/goref failed: $(tail -1 "$OUT/goref-build.log")"
		return 1
	fi
	commit=$(git -C "$dir" rev-parse --short=12 HEAD)
	if [[ -n ${GOREF_DELVE:-} ]]; then
		if ! (cd "$dir" && go get "github.com/go-delve/delve@$GOREF_DELVE" && go mod tidy) >>"$OUT/goref-build.log" 2>&1; then
			echo "go get github.com/go-delve/delve@$GOREF_DELVE in goref failed: $(tail -1 "$OUT/goref-build.log")"
			return 1
		fi
	fi
	if ! (cd "$dir" && go build -o "$OUT/grf" ./cmd/grf) >>"$OUT/goref-build.log" 2>&1; then
		if [[ -n ${GOREF_DELVE:-} ]]; then
			echo "goref $commit does not build: $(tail -1 "$OUT/goref-build.log")"
			return 1
		fi
		echo "== goref $commit does not build with its own delve; retrying with delve v1.27.2" >&2
		if ! (cd "$dir" && go get github.com/go-delve/delve@v1.27.2 && go mod tidy && go build -o "$OUT/grf" ./cmd/grf) >>"$OUT/goref-build.log" 2>&1; then
			echo "goref $commit does not build, with its own delve or v1.27.2: $(tail -1 "$OUT/goref-build.log")"
			return 1
		fi
	fi
}

use_goref=0
GRF=
if has goref; then
	if [[ -n ${GOREF:-} ]]; then
		if [[ -x $GOREF ]]; then
			GRF=$GOREF use_goref=1 goref_desc="goref binary $GOREF"
		else
			echo "== GOREF=$GOREF is not an executable: skipping goref" >&2
		fi
	else
		echo "== building goref outside the repository, in $OUT/goref-src" >&2
		if why=$(build_goref); then
			GRF=$OUT/grf use_goref=1
			goref_desc="goref $(git -C "$OUT/goref-src" rev-parse --short=12 HEAD) from ${goref_src:-github.com/cloudwego/goref}, delve $(cd "$OUT/goref-src" && go list -m -f '{{.Version}}' github.com/go-delve/delve)"
		else
			echo "== skipping goref: $why" >&2
		fi
	fi
fi
if [[ $use_leakhunt == 0 && $use_goref == 0 ]]; then
	echo "bench-refs.sh: neither leakhunt objects nor goref is available: nothing to measure" >&2
	exit 1
fi

# start_target SIZE: starts the patient and waits for its ready line.
addr=
start_target() {
	local args ready
	case $1 in
	small) args=(-mb 100 -objects 1000000) ;;
	big) args=(-mb 1100 -objects 11000000) ;;
	esac
	"$OUT/benchrefs" "${args[@]}" >"$OUT/target.out" 2>"$OUT/target.err" &
	target_pid=$!
	ready=
	for _ in $(seq 600); do
		ready=$(sed -n 's/^ready //p' "$OUT/target.out")
		[[ -n $ready ]] && break
		if ! kill -0 "$target_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [[ -z $ready ]]; then
		echo "benchrefs did not start: $(cat "$OUT/target.out" "$OUT/target.err")" >&2
		exit 1
	fi
	read -r _ addr t_objects t_bytes t_meter t_build <<<"$ready"
}

stop_target() {
	kill -KILL "$target_pid" 2>/dev/null || true
	wait "$target_pid" 2>/dev/null || true
	target_pid=
}

meter() { curl -sf "http://$addr/stall?reset=1"; }

# alive checks that the patient runs: not traced, no thread stopped, its
# meter ticking.
alive() {
	local st tracer rep task
	st=$(sed -n 's/^State:\s*//p' "/proc/$target_pid/status" 2>/dev/null) || st=
	tracer=$(sed -n 's/^TracerPid:\s*//p' "/proc/$target_pid/status" 2>/dev/null) || tracer=
	if [[ -z $st || $st == t* || $st == T* || $tracer != 0 ]]; then
		echo "after $1: the patient is not running freely (State: ${st:-gone}, TracerPid: ${tracer:-?})" >&2
		exit 1
	fi
	for task in /proc/"$target_pid"/task/*/status; do
		st=$(sed -n 's/^State:\s*//p' "$task" 2>/dev/null) || st=
		if [[ $st == t* || $st == T* ]]; then
			echo "after $1: thread ${task%/status} of the patient is stopped (State: $st)" >&2
			exit 1
		fi
	done
	sleep 0.2
	rep=$(curl -sf "http://$addr/stall") || {
		echo "after $1: the stall meter does not answer" >&2
		exit 1
	}
	if [[ $(field "$rep" ticks) -lt 50 ]]; then
		echo "after $1: the stall meter is not ticking: $rep" >&2
		exit 1
	fi
}

# run_tool TOOL SIZE RUN: one run of a tool against the patient; appends
# "size tool run wall_s stop_s stalled_s self_s cpu_s rss_kb what" to $results.
results=$OUT/results
: >"$results"
run_tool() {
	local tool=$1 size=$2 i=$3 log=$OUT/$1-$2-$3 t0 t1 rep self saw rc=0
	local -a cmd
	case $tool in
	leakhunt) cmd=("$OUT/leakhunt" objects "$target_pid" --by root) ;;
	goref) cmd=("$GRF" attach "$target_pid" -o "$log.grf") ;;
	esac
	meter >/dev/null
	t0=$(now)
	/usr/bin/time -v -o "$log.time" "${cmd[@]}" >"$log.out" 2>"$log.err" &
	tool_pid=$!
	wait "$tool_pid" || rc=$?
	tool_pid=
	t1=$(now)
	rep=$(meter)
	alive "$tool run $i ($size)"
	if [[ $rc != 0 ]]; then
		echo "$tool failed (exit $rc): ${cmd[*]}" >&2
		tail -5 "$log.err" >&2
		exit 1
	fi
	self=-
	saw=
	case $tool in
	leakhunt)
		# "stopped 41 ms, copied 120 MiB; walk 3.2 s, analysis 1.1 s"
		self=$(sed -n 's/^stopped \([0-9.]*\) \(ms\|s\), .*/\1 \2/p' "$log.err" | head -1 |
			awk '{ v = $1; if ($2 == "ms") v /= 1000; printf "%.3f", v }')
		[[ -n $self ]] || self=-
		saw="$(sed -n 's/^stopped [0-9.]* m*s, //p' "$log.err" | head -1); $(grep -c '' "$log.out") lines"
		;;
	goref)
		# What goref saw: the objects and bytes in its profile.
		saw=$(go tool pprof -top -sample_index=inuse_objects "$log.grf" 2>/dev/null | sed -n 's/.* of \([0-9]*\) total.*/\1 objects/p')
		saw="$saw, $(go tool pprof -top -sample_index=inuse_space "$log.grf" 2>/dev/null | sed -n 's/.* of \([0-9.]*\)\([kMG]*\)B total.*/\1 \2/p' |
			awk '{ v = $1; if ($2 == "k") v /= 1000; else if ($2 == "G") v *= 1000; else if ($2 == "") v /= 1e6; printf "%.0f MB", v }')"
		;;
	esac
	awk -v size="$size" -v tool="$tool" -v i="$i" -v a="$t0" -v b="$t1" \
		-v stop="$(field "$rep" stop_ms)" -v stalled="$(field "$rep" stalled_ms)" -v self="$self" \
		-v cpu="$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { print s + 0 }' "$log.time")" \
		-v rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")" -v saw="$saw" \
		'BEGIN { printf "%s %s %d %.3f %.3f %.3f %s %.2f %d %s\n", size, tool, i, b - a, stop / 1000, stalled / 1000, self, cpu, rss, saw }' >>"$results"
	tail -1 "$results" | awk '{ printf "%-6s %-9s %3d %9.3f %9.3f %9.3f %9s %9.2f %9.0f  ", $1, $2, $3, $4, $5, $6, $7, $8, $9 / 1024; for (k = 10; k <= NF; k++) printf "%s ", $k; print "" }'
	rm -f "$log.grf"
}

echo "== machine" >&2
{
	echo "cpu:        $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "memory:     $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel:     $(uname -r)"
	echo "go:         $(go version | cut -d' ' -f3-)"
	echo "leakhunt:   $ROOT ($(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ', with uncommitted changes'))$([[ $use_leakhunt == 1 ]] || echo ': not measured')"
	echo "goref:      $([[ $use_goref == 1 ]] && echo "$goref_desc" || echo 'not measured')"
	echo "load start: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
}

for size in $SIZES; do
	echo "== $size: starting benchrefs" >&2
	start_target "$size"
	meter >/dev/null
	sleep 1
	idle=$(meter)
	echo
	echo "$size: pid $target_pid, $t_objects heap objects, $(awk -v b="$t_bytes" 'BEGIN { printf "%.0f MB", b / 1e6 }') in use (HeapAlloc), built in $t_build s, meter $t_meter, idle: longest gap $(field "$idle" max_gap_ms) ms in $(field "$idle" window_ms) ms"
	printf '%-6s %-9s %3s %9s %9s %9s %9s %9s %9s  %s\n' size tool run "wall s" "stop s" "stalled s" "self s" "CPU s" "RSS MiB" "what it saw"
	for i in $(seq "$RUNS"); do
		if [[ $use_leakhunt == 1 ]]; then run_tool leakhunt "$size" "$i"; fi
		if [[ $use_goref == 1 ]]; then run_tool goref "$size" "$i"; fi
	done
	stop_target
done

echo
echo "load end:   $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo
# Summary: the median per size, tool and column; ratios leakhunt/goref.
awk '
function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
function med(key, col, n,   i, v) {
	if (vals[key, col, 1] == "-") return -1
	for (i = 1; i <= n; i++) v[i] = vals[key, col, i] + 0
	sortv(v, n)
	return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
{ key = $1 SUBSEP $2; c = ++cnt[key]; for (k = 4; k <= 9; k++) vals[key, k, c] = $k; if (!($1 in seen)) { seen[$1] = 1; sizes[++ns] = $1 } }
END {
	printf "| %-5s | %-8s | %9s | %9s | %9s | %9s | %9s |\n", "size", "tool", "wall s", "stopped s", "self s", "CPU s", "RSS MiB"
	printf "|-------|----------|----------:|----------:|----------:|----------:|----------:|\n"
	for (s = 1; s <= ns; s++) {
		for (t = 1; t <= 2; t++) {
			tool = t == 1 ? "leakhunt" : "goref"; key = sizes[s] SUBSEP tool
			if (!(key in cnt)) continue
			for (k = 4; k <= 9; k++) m[sizes[s], tool, k] = med(key, k, cnt[key])
			self = m[sizes[s], tool, 7] < 0 ? "-" : sprintf("%.3f", m[sizes[s], tool, 7])
			printf "| %-5s | %-8s | %9.3f | %9.3f | %9s | %9.2f | %9.0f |\n", sizes[s], tool, m[sizes[s], tool, 4], m[sizes[s], tool, 5], self, m[sizes[s], tool, 8], m[sizes[s], tool, 9] / 1024
		}
	}
	for (s = 1; s <= ns; s++) {
		if (!((sizes[s] SUBSEP "leakhunt") in cnt) || !((sizes[s] SUBSEP "goref") in cnt)) continue
		sw = m[sizes[s], "leakhunt", 4] / m[sizes[s], "goref", 4]
		ss = m[sizes[s], "leakhunt", 5] / m[sizes[s], "goref", 5]
		sc = m[sizes[s], "leakhunt", 8] / m[sizes[s], "goref", 8]
		sr = m[sizes[s], "leakhunt", 9] / m[sizes[s], "goref", 9]
		printf "\n%s, leakhunt/goref: stopped %.4f (goal <= 0.02: %s), wall %.3f (goal <= 0.5: %s), CPU %.3f, peak RSS %.2f\n", sizes[s], ss, ss <= 0.02 ? "met" : "NOT met", sw, sw <= 0.5 ? "met" : "NOT met", sc, sr
	}
}' "$results"
