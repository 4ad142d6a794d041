#!/usr/bin/env bash
# capture.sh OUTDIR [DEMO[:fixed]...] — run the hunt guides' commands for real
# against the demos and keep each command's output in OUTDIR/DEMO/NN.txt.
# capture.sh fill OUTDIR — then paste those outputs into the guides: each
# block between "<!-- out DEMO/NN -->" and "<!-- /out -->" in docs/hunts/*.md
# is replaced by the file's text in a code block.
# Needs leakhunt on PATH (go build -o DIR/leakhunt ./cmd/leakhunt), go and python3.
# JOBS demos run at a time (default 2: each runs real load for about three
# minutes, and their timings suffer on a busy machine).
set -u
if [[ ${1:-} == fill ]]; then
  exec python3 - "${2:?usage: capture.sh fill OUTDIR}" "$(dirname "$0")" <<'PY'
import pathlib, re, sys
out, docs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
block = re.compile(r"<!-- out (\S+) -->\n.*?<!-- /out -->", re.S)
def paste(m):
    text = (out / (m.group(1) + ".txt")).read_text().rstrip("\n")
    return f"<!-- out {m.group(1)} -->\n```\n{text}\n```\n<!-- /out -->"
for md in sorted(docs.glob("*.md")):
    old = md.read_text()
    new = block.sub(paste, old)
    if new != old:
        md.write_text(new)
        print("filled", md)
PY
fi
out=${1:?usage: capture.sh OUTDIR [DEMO[:fixed]...]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)

# port, guide -rate and seconds between snapshots for each demo
# (the -fixed variant listens on port + 100)
declare -A port=([cache]=17061 [subslice]=17062 [sender]=17063 [ranger]=17064 [worker]=17065 [context]=17066
  [eventlog]=17067 [body]=17068 [cgo]=17069 [bounded]=17070 [sawtooth]=17071 [pool]=17072)
declare -A rate=([cache]=100 [subslice]=5 [sender]=20 [ranger]=10 [worker]=10 [context]=50
  [eventlog]=250 [body]=5 [cgo]=5 [bounded]=80 [sawtooth]=0.5 [pool]=2)

# step DIR N COMMAND: run COMMAND in DIR, keep "$ COMMAND" and its output in DIR/N.txt
step() {
  local dir=$1 n=$2; shift 2
  { echo "\$ $*"; (cd "$dir" && eval "$*") 2>&1; } > "$dir/$n.txt"
}

hunt() {
  local name=${1%:*} variant=
  [[ $1 == *:fixed ]] && variant=-fixed
  local p=${port[$name]} dir="$out/$name$variant"
  [[ -n $variant ]] && p=$((p + 100))
  local url=http://127.0.0.1:$p
  rm -rf "$dir" && mkdir -p "$dir"
  local run="leakhunt demo run $name -addr 127.0.0.1:$p -rate ${rate[$name]} $variant"
  echo "\$ ${run% }" > "$dir/00-run.txt"
  $run >> "$dir/00-run.txt" 2>&1 &
  local lh=$!
  for _ in $(seq 600); do grep -q '^pprof: http' "$dir/00-run.txt" && break; sleep 0.2; done
  if ! grep -q "^pprof: $url/debug/pprof/" "$dir/00-run.txt"; then
    echo "$name$variant did not start on $url:" >&2
    cat "$dir/00-run.txt" >&2
    kill -TERM $lh 2>/dev/null
    return 1
  fi
  sleep 5
  step "$dir" 01 leakhunt stats $url
  step "$dir" 02 leakhunt snapshot --gc $url -o before.lhsnap
  sleep 60
  step "$dir" 03 leakhunt snapshot --gc $url -o after.lhsnap
  step "$dir" 04 leakhunt diff before.lhsnap after.lhsnap -n 5
  step "$dir" 05 leakhunt top after.lhsnap -n 5
  local stacks=1
  [[ $name == body ]] && stacks=3
  step "$dir" 06 leakhunt top after.lhsnap --by stack -n $stacks
  step "$dir" 07 leakhunt stats after.lhsnap
  case $name in
  cache | subslice | context | eventlog)
    # what keeps the growth alive: the live heap walked from its roots
    local pid
    pid=$(sed -n 's/^pid //p' "$dir/00-run.txt")
    step "$dir" 12 leakhunt objects $pid --by root -n 3 ;;
  esac
  case $name in
  sender | ranger | worker)
    step "$dir" 08 leakhunt stacks after.lhsnap --by site -n 1 ;;
  body)
    step "$dir" 08 leakhunt stacks after.lhsnap --by site -n 3 ;;
  pool)
    step "$dir" 08 leakhunt stacks after.lhsnap --by site -n 1 ;;
  bounded)
    sleep 60
    step "$dir" 08 leakhunt snapshot --gc $url -o later.lhsnap
    step "$dir" 09 leakhunt diff after.lhsnap later.lhsnap -n 3 ;;
  esac
  # the fixed variants' guides quote only 00-run and 04
  [[ -z $variant ]] && step "$dir" 10 leakhunt watch $url --interval 5s --duration 1m -n 2 -o series
  kill -TERM $lh
  wait $lh
  if [[ $name == bounded ]]; then
    # the same control watched from its start, through the warm-up
    step "$dir" 11 leakhunt watch --interval 5s --duration 1m -n 2 -o series-start -- \
      leakhunt demo run bounded -addr 127.0.0.1:$((p + 200))
  fi
}

if [[ $# -eq 0 ]]; then
  set -- cache subslice sender ranger worker context eventlog body cgo bounded sawtooth pool \
    cache:fixed subslice:fixed sender:fixed ranger:fixed worker:fixed context:fixed eventlog:fixed body:fixed cgo:fixed
fi
for d in "$@"; do
  while (($(jobs -rp | wc -l) >= ${JOBS:-2})); do wait -n; done
  hunt "$d" &
done
wait

# The race demo: a few rounds with the race detector, then SIGTERM.
for variant in "" -fixed; do
  dir="$out/race$variant"
  rm -rf "$dir" && mkdir -p "$dir"
  echo "\$ leakhunt demo run --race race${variant:+ $variant}" > "$dir/00-run.txt"
  leakhunt demo run --race race $variant >> "$dir/00-run.txt" 2>&1 &
  lh=$!
  for _ in $(seq 1500); do grep -q '^round 3:' "$dir/00-run.txt" 2>/dev/null && break; sleep 0.2; done
  kill -TERM $lh
  wait $lh
done
