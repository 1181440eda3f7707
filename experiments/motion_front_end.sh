#!/usr/bin/env bash
# A CordsNet front end trained on motion, then the multi-area network's random-dot-motion task on
# it. A front end trained on still images (experiments/cordsnet_fashion.sh's R2) carries no
# direction in its globally averaged features, and the multi-area network's CTRNN stayed at chance
# on the dots task with it (docs/VISION.md). Here that front end is trained further on random-dot
# movies (`task.dataset = "dots"`: a frame per 2 ms step from its spontaneous state, its own
# readout classifying the direction from the same averaged features the CTRNN reads), in two
# stages: every dot coherent first (coherence 1), then coherences 0.1 to 1. Then
# experiments/multiarea.sh runs the dots task (coherences 0.05 to 0.8) on the frozen result.
# Prints the front end's test accuracy at each coherence after each stage, then the multi-area
# table (its metrics.csv has the accuracy at each coherence per evaluation).
#
#   experiments/motion_front_end.sh          FRONT=runs/cordsnet_fashion/r2/seed-1/model.npz
#                                            SEEDS="1" (the multi-area runs) FRAMES=40
#                                            FIRST_UPDATES=600 SECOND_UPDATES=1000 MAX_STEPS=300
#                                            OUT=runs/motion_front_end
#   experiments/motion_front_end.sh --smoke  a tiny front end, a few updates of each (CI)
# Each run resumes where it stopped; the second stage reads the first's model.npz as it finished:
# after extending the first stage (FIRST_UPDATES), remove OUT/mixed and OUT/multiarea to rebuild
# them on it.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
front=${FRONT:-runs/cordsnet_fashion/r2/seed-1/model.npz}
seeds=${SEEDS:-"1"}
frames=${FRAMES:-40}
first=${FIRST_UPDATES:-600}
second=${SECOND_UPDATES:-1000}
max_steps=${MAX_STEPS:-300}
out=${OUT:-runs/motion_front_end}
data=${DATA:-/usr/share/datasets/fashion-mnist}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; frames=6; first=2; second=2; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
if $smoke; then
  smoke_front_end "$out/still" "$data" 2
  front="$out/still/model.npz"
fi
if [[ ! -f "$front" ]]; then
  echo "no front end at $front: run experiments/cordsnet_fashion.sh first (or set FRONT)" >&2
  exit 1
fi
# stage_config FROM COHERENCES LR UPDATES: a dots run continuing FROM's model.npz
stage_config() {
  local cfg
  cfg=$(mktemp --suffix=.toml)
  $bin config --kind cordsnet | sed "s|^dataset = .*|dataset = \"dots\"|; s|^from = .*|from = \"$1\"|; s/^coherences = .*/coherences = [$2]/" \
    | sed "s/^learning_rate = 0.001 .*/learning_rate = $3/; s/^max_steps = .*/max_steps = $4/; s/^eval_every = .*/eval_every = 100/" \
    | sed "s/^stimulus_steps = .*/stimulus_steps = $frames/; s/^loss_steps = .*/loss_steps = $((frames / 2))/; s/^offset_steps = .*/offset_steps = 0/; s/^penalty_steps = .*/penalty_steps = 0/; s/^test_images = .*/test_images = 512/" > "$cfg"
  if $smoke; then
    sed -i 's/^widths = .*/widths = [4, 8, 16, 32]/; s/^spontaneous_steps = .*/spontaneous_steps = 10/; s/^test_images = .*/test_images = 16/; s/^train_images = .*/train_images = 64/; s/^eval_every = .*/eval_every = 2/' "$cfg"
  fi
  [[ -s $cfg ]] || { echo "no config written for $1" >&2; exit 1; }
  echo "$cfg"
}
cfg=$(stage_config "$front" "1.0" 0.003 "$first")
train_to "$out/coherent" "$first" 1 "$cfg" > /dev/null
rm -f "$cfg"
cfg=$(stage_config "$out/coherent/model.npz" "0.1, 0.2, 0.4, 0.8, 1.0" 0.001 "$second")
train_to "$out/mixed" "$second" 1 "$cfg" > /dev/null
rm -f "$cfg"
python3 - "$out" <<'PY'
import csv, sys
root = sys.argv[1]
print("the front end on dots movies: test accuracy at the end of each stage (chance 0.5)")
for stage, what in (("coherent", "every dot coherent"), ("mixed", "coherences 0.1 to 1")):
    rows = list(csv.DictReader(open(f"{root}/{stage}/metrics.csv")))
    last = rows[-1]
    cells = ", ".join(f"{k[len('test_accuracy_coh_'):]}: {float(v):.3f}" for k, v in last.items() if k.startswith("test_accuracy_coh_"))
    print(f"| {stage} ({what}) | {last['step']} updates | all {float(last['test_accuracy']):.3f} | {cells} |")
PY
if $smoke; then
  FRONT="$out/mixed/model.npz" TASKS=dots experiments/multiarea.sh --smoke
  rm -rf "$out"
else
  FRONT="$out/mixed/model.npz" TASKS=dots SEEDS="$seeds" MAX_STEPS="$max_steps" OUT="$out/multiarea" \
    experiments/multiarea.sh
fi
exit
}
