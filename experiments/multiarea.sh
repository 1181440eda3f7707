#!/usr/bin/env bash
# The multi-area network: a trained CordsNet (experiments/cordsnet_fashion.sh's R2), frozen (or
# fine-tuned: MODES="frozen fine", the CTRNN's loss trained through it by BPTT), as
# the visual front end of a CTRNN on the same 2 ms clock, trained by BPTT on delayed
# match-to-category with Fashion-MNIST images (classes 0-4 against 5-9; fixation 100 ms, sample
# 200 ms, delay 300 ms, test 200 ms) and on a random-dot-motion decision (dots moving through the
# 200 ms sample epoch at coherences 0.05 to 0.8, a new frame each step; left or right after the
# delay). The paper's multi-area tasks are not published; these tasks and the wiring are ours.
# Prints the test accuracy per task and seed (chance: 0.5).
#
#   experiments/multiarea.sh          TASKS="dmc dots" SEEDS="1" MAX_STEPS=300 MODES="frozen"
#                                     FRONT=runs/cordsnet_fashion/r2/seed-1/model.npz FINE_LR=1e-4
#                                     GRIDS="1": the features' grid (1: each channel's global
#                                     average, the readout's; G: a G x G grid of cells per channel,
#                                     which keeps where things are; runs of G > 1 in OUT/grid<G>/)
#                                     COHERENCES="0.05, 0.1, 0.2, 0.4, 0.8": the dots' coherences
#                                     (another list is another experiment: give it its own OUT)
#   experiments/multiarea.sh --smoke  a tiny front end trained first (unless FRONT is given), a
#                                     few updates (CI)
# With the dots task it also prints whether the dots' direction is in the front end's features at
# all: a motion-energy detector on a 7 x 7 grid of them, untrained (the motion_energy example).
# Runs resume where they stopped.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${TASKS:-"dmc dots"}
grids=${GRIDS:-"1"}
coherences=${COHERENCES:-}
modes=${MODES:-"frozen"}
fine_lr=${FINE_LR:-1e-4}
seeds=${SEEDS:-"1"}
max_steps=${MAX_STEPS:-300}
front=${FRONT:-runs/cordsnet_fashion/r2/seed-1/model.npz}
data=${DATA:-/usr/share/datasets/fashion-mnist}
out=${OUT:-runs/multiarea}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; max_steps=4; modes="frozen fine"; grids="1 2"; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
if $smoke && [[ -z ${FRONT:-} ]]; then
  smoke_front_end "$out/front" "$data" 4
  front="$out/front/model.npz"
fi
if [[ ! -f "$front" ]]; then
  echo "no front end at $front: run experiments/cordsnet_fashion.sh first (or set FRONT)" >&2
  exit 1
fi
for mode in $modes; do
for grid in $grids; do
for task in $tasks; do
for seed in $seeds; do
  cfg=$(mktemp --suffix=.toml)
  $bin config --kind multiarea | sed "s|^model = .*|model = \"$front\"|; s|^path = .*|path = \"$data\"|; s/^kind = \"dmc\"/kind = \"$task\"/" > "$cfg"
  if [[ $mode == fine ]]; then
    sed -i "s/^fine_tune = .*/fine_tune = true/; s/^learning_rate = 0.0001 .*/learning_rate = $fine_lr/" "$cfg"
  fi
  sed -i "s/^feature_grid = .*/feature_grid = $grid/" "$cfg"
  if [[ -n $coherences ]]; then sed -i "s/^coherences = .*/coherences = [$coherences]/" "$cfg"; fi
  if $smoke; then
    sed -i 's/^fixation_ms = .*/fixation_ms = 10.0/; s/^sample_ms = .*/sample_ms = 20.0/; s/^delay_ms = .*/delay_ms = 20.0/; s/^test_ms = .*/test_ms = 20.0/; s/^grace_ms = .*/grace_ms = 4.0/; s/^eval_trials = .*/eval_trials = 16/; s/^eval_every = .*/eval_every = 2/; s/^batch_size = .*/batch_size = 8/; s/^spontaneous_steps = .*/spontaneous_steps = 10/' "$cfg"
  fi
  # the frozen runs keep their old place
  dir="$out/$task/seed-$seed"
  [[ $mode == fine ]] && dir="$out/fine/$task/seed-$seed"
  if [[ $grid != 1 ]]; then dir="$out/grid$grid/${dir#"$out/"}"; fi
  train_to "$dir" "$max_steps" "$seed" "$cfg" > /dev/null
  # the CTRNN's delay: its fixed points under fixation and the front end at rest
  $bin analyze "$dir" > /dev/null
  rm -f "$cfg"
done
done
done
done
python3 - "$out" <<'PY'
import csv, glob, json, sys
root = sys.argv[1]
print("| task | front end | features | seed | updates | test accuracy (chance 0.5) | test loss | minutes | accuracy per evaluation | delay's fixed points (stable) |")
print("|---|---|---|---|---|---|---|---|---|---|")
runs = glob.glob(f"{root}/*/seed-*") + glob.glob(f"{root}/fine/*/seed-*")
runs += glob.glob(f"{root}/grid*/*/seed-*") + glob.glob(f"{root}/grid*/fine/*/seed-*")
for r in sorted(set(runs)):
    try:
        s = json.load(open(f"{r}/summary.json"))
    except OSError:
        continue
    rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
    curve = ", ".join(f"{float(x['test_accuracy']):.2f}" for x in rows)
    task = r.split("/")[-2]
    mode = "fine-tuned" if "/fine/" in r else "frozen"
    g = [p[4:] for p in r[len(root):].split("/") if p.startswith("grid")]
    features = f"{g[0]} x {g[0]} grid" if g else "global average"
    try:
        points = [p for p in csv.DictReader(open(f"{r}/analysis/fixed_points.csv")) if p["kind"] == "fixed"]
        fixed = f"{len(points)} ({sum(p['stable'] == 'true' for p in points)})"
    except OSError:
        fixed = "-"
    print(f"| {task} | {mode} | {features} | {r.rsplit('-', 1)[1]} | {s['steps']} | {s['test_accuracy']:.3f} | {s['test_loss']:.4f} | {s['wall_s'] / 60:.1f} | {curve} | {fixed} |")
PY
if [[ " $tasks " == *" dots "* ]]; then
  cargo build --release -q -p biornn-vision --example motion_energy
  echo "motion energy on the front end's features: the share of trials whose direction it reads (chance 0.5)"
  # a front end whose last areas are smaller than the grid is named by the example; the runs'
  # table above stands either way
  if $smoke; then energy=(2 8); else energy=(7 256); fi
  target/release/examples/motion_energy "$front" "${energy[@]}" "$data" ||
    echo "motion energy: not run (above)" >&2
fi
if $smoke; then rm -rf "$out"; fi
exit
}
