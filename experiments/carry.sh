#!/usr/bin/env bash
# Carry unfinished runs over to the next session in git: the runs directory does not outlive a
# machine, so a long run that one session cannot finish keeps its config, metrics and newest
# checkpoint under experiments/carried/ (the same path below runs/). The experiment scripts restore
# it from there when their run directory is empty (experiments/lib.bash, restore_carried) and the
# run resumes bit for bit.
#
#   experiments/carry.sh runs/modcog_sparsity/local4/seed-1 ...   keep these runs (then commit)
#   experiments/carry.sh --results runs/longterm/dlygo/dasc-t40-s2-b0.5
#                                                                keep a finished run's results only
#                                                                (config, metrics, summary: what the
#                                                                summaries read), not its weights
#   experiments/carry.sh --smoke                                 a run kept and restored (CI)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/lib.bash

carry_results() {
  local dir=$1 dest
  [[ -f "$dir/summary.json" ]] || { echo "carry: $dir has not finished (no summary.json); carry it whole" >&2; exit 1; }
  dest="${CARRY_TO:-experiments/carried}/${dir#runs/}"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$dir/config.toml" "$dir/metrics.csv" "$dir/summary.json" "$dest/"
  echo "kept the results of $dir in $dest ($(du -sh "$dest" | cut -f1))"
}

carry() {
  local dir=$1 dest newest
  [[ -f "$dir/config.toml" ]] || { echo "carry: $dir holds no run (no config.toml)" >&2; exit 1; }
  # no checkpoint: an empty answer (not a failed pipeline, which would end the script unexplained)
  newest=$(ls "$dir"/checkpoints/step_*.npz 2>/dev/null | sort | tail -1 || true)
  [[ -n "$newest" ]] || { echo "carry: $dir has no checkpoint to resume from" >&2; exit 1; }
  dest="${CARRY_TO:-experiments/carried}/${dir#runs/}"
  rm -rf "$dest"
  mkdir -p "$dest/checkpoints"
  cp "$dir/config.toml" "$dest/"
  for f in metrics.csv summary.json model.npz; do
    if [[ -f "$dir/$f" ]]; then cp "$dir/$f" "$dest/"; fi
  done
  cp "$newest" "$dest/checkpoints/"
  echo "kept $dir in $dest ($(basename "$newest"), $(du -sh "$dest" | cut -f1))"
}

if [[ "${1:-}" == "--smoke" ]]; then
  cargo build --release -q
  bin="$PWD/target/release/biornn"
  tmp=$(mktemp -d)
  (
    cd "$tmp"
    "$bin" train --max-steps 2 --runs runs/exp --name seed-1 --quiet
    row2() { grep '^2,' runs/exp/seed-1/metrics.csv; } # wall_s included: a rerun would differ
    before=$(row2)
    carry runs/exp/seed-1
    rm -rf runs # the next session's machine
    restore_carried runs/exp/seed-1
    "$bin" train --resume runs/exp/seed-1 --max-steps 4 --quiet
    grep -q '"steps": 4' runs/exp/seed-1/summary.json
    # continued from the carried state, not started over: the kept rows stand
    [[ -n "$before" && "$(row2)" == "$before" ]] || { echo "carry: the resumed run lost its rows" >&2; exit 1; }
    grep -q '^4,' runs/exp/seed-1/metrics.csv
    # a finished run's results alone: restored as finished, without weights
    CARRY_TO=kept carry_results runs/exp/seed-1
    [[ -f kept/exp/seed-1/summary.json && ! -e kept/exp/seed-1/checkpoints ]] \
      || { echo "carry: --results kept weights or lost the summary" >&2; exit 1; }
    # restored on the next machine, it stands as finished: a larger budget cannot take it further
    # and says so, without ending the sweep around it
    rm -rf experiments/carried runs && mv kept experiments/carried
    said=$(train_to runs/exp/seed-1 6 1 /dev/null 2>&1)
    grep -q "results only" <<< "$said" && grep -q '"steps": 4' runs/exp/seed-1/summary.json \
      || { echo "carry: a results-only run was not left as it was: $said" >&2; exit 1; }
    # a run without a checkpoint is refused by name, not with a bare exit
    said=$( (carry runs/exp/seed-1) 2>&1 || true)
    grep -q "no checkpoint" <<< "$said" || { echo "carry: no reason given: $said" >&2; exit 1; }
  )
  echo "carry smoke: kept, restored and resumed to 4 updates; results kept alone"
  rm -rf "$tmp"
  exit 0
fi
usage="usage: experiments/carry.sh [--results] RUN_DIR ... (or --smoke)"
how=carry
if [[ "${1:-}" == "--results" ]]; then how=carry_results; shift; fi
[[ $# -gt 0 ]] || { echo "$usage" >&2; exit 1; }
for dir in "$@"; do
  [[ "$dir" == runs/* ]] || { echo "carry: $dir is not under runs/ (run from the repository root)" >&2; exit 1; }
  $how "$dir"
done
exit
}
