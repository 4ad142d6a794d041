#!/bin/sh
# accuracy.sh: run `leakhunt watch` at a 1 s interval against every leakdemo
# (leaky demos, their -fixed variants, and the controls) and print, per demo,
# whether the verdict is right (kind and file:line as the demo's package doc
# states), the seconds to the first correct verdict, and any false verdict.
# Figures are recorded in docs/accuracy.md.
#
# Usage: scripts/accuracy.sh [-leaky 90s] [-clean 3m] [-parallel 6] [-only cache,bounded]
#                            [-rate cache=60] [-md FILE]
set -eu
cd "$(dirname "$0")/.."
exec go run ./scripts/accuracy -interval 1s "$@"
