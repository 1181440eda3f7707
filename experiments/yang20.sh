#!/usr/bin/env bash
# Train the Yang et al. (2019) network (256 softplus units, diag init, context DM x5) on all 20 tasks
# until every task reaches 0.9 performance, then print steps, trials, wall-clock and the per-task table.
#
#   experiments/yang20.sh            the full run (tens of minutes to hours on 2 cores; killed, it
#                                    resumes when run again)
#   experiments/yang20.sh --smoke    a few updates only, to check that the pipeline runs (CI)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-runs}
extra=()
name=yang20
if [[ "${1:-}" == "--smoke" ]]; then
  extra=(--max-steps 4)
  name=yang20-smoke
  runs=$(mktemp -d)
fi
cargo build --release -q
dir="$runs/$name"
# run again after a kill, it resumes where it stopped (and stands once done)
./target/release/biornn train configs/yang20.toml --name "$name" --out "$dir" "${extra[@]}"
python3 - "$dir/summary.json" <<'PY' 2>/dev/null || cat "$dir/summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
print(f"steps={s['steps']} trials={s['trials']} wall_s={s['wall_s']:.0f} min_perf={s['min_perf']:.3f} "
      f"mean_perf={s['mean_perf']:.3f} reached_target={s['reached_target']}")
PY
./target/release/biornn eval "$dir" --trials 512
if [[ "${1:-}" == "--smoke" ]]; then rm -rf "$runs"; fi
exit
}
