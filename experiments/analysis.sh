#!/usr/bin/env bash
# Train the default network, then time `biornn analyze` and `biornn report` on it and check the
# report in headless Chromium (when installed): prints seconds for each and the figures rendered.
#
#   experiments/analysis.sh            the default job (about a minute of training on 2 cores)
#   experiments/analysis.sh --smoke    a few updates only, to check that the pipeline runs (CI)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
extra=()
if [[ "${1:-}" == "--smoke" ]]; then extra=(--max-steps 20); fi
cargo build --release -q
bin=./target/release/biornn
$bin train --runs "$runs" --name default --quiet "${extra[@]}" > /dev/null 2>&1
run="$runs/default"
secs() {
  local t0 t1
  t0=$(date +%s%N); "$@" > "$runs/out.log"; t1=$(date +%s%N)
  printf '%d.%02d' $(((t1 - t0) / 1000000000)) $(((t1 - t0) / 10000000 % 100))
}
# assigned first: a failed command then ends the script (inside `echo "$(...)"` it would not)
t=$(secs $bin analyze "$run"); echo "analyze_s=$t"
grep -E "^(analysis time|fixed points)" "$runs/out.log"
t=$(secs $bin report "$run"); echo "report_s=$t"
echo "figures_in_analysis=$(ls "$run"/analysis/*.png | wc -l)"
if command -v chromium > /dev/null 2>&1; then
  dom=$(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$runs/profile" --virtual-time-budget=10000 --dump-dom "file://$run/report.html" 2> /dev/null)
  echo "chromium: $(echo "$dom" | grep -o 'data-figures-[a-z]*="[0-9]*"' | tr '\n' ' ')"
else
  echo "chromium: not installed, render check skipped"
fi
exit
}
