#!/usr/bin/env bash
# CordsNet's staged training (the reference's option A, wmws2/cordsnet `training/`), R2 on
# Fashion-MNIST at its native 28 x 28 (Debian's dataset-fashion-mnist), each stage a run that
# starts from the one before's model.npz:
#   1  the compatibility CNN (batch norm where the dynamics will be);
#   2  `rule.kind = "inverse"`: its batch norms folded in (1b), then each area's recurrent conv and
#      per-unit bias fitted to the CNN's pre-activations (3-term Neumann series, teacher forcing);
#      its evaluations already run the linear network (stage 3's protocol);
#   3  the linear network end to end: 100 stimulus steps from rest, cross-entropy over the last 30;
#   4  PReLU with a shared slope annealed to 0 (`anneal_levels`), the full protocol and loss;
#   5  ReLU, the full protocol and loss.
# The reference trains R8 on ImageNet at 224 x 224, 100 epochs for each of stages 1 to 3 and 20 for
# stages 4 and 5; here every stage is a fraction of an epoch to a few epochs of 10,000 images (the
# budgets below). Option B, the same network from random weights, is experiments/cordsnet_fashion.sh.
# Then the final network's accuracy under image noise and its spectra. Prints the tables.
#
#   experiments/cordsnet_staged.sh          SEEDS="1" TRAIN=10000 TEST=2000 WIDTH=32 BATCH=16
#                                           CNN_EPOCHS=1 INVERSE_EPOCHS=10 LINEAR_UPDATES=312
#                                           ANNEAL_LEVELS=4 LEVEL_UPDATES=78 FINAL_UPDATES=312
#                                           FINE_LR=1e-4 EVALS=1 (per stage, besides the first)
#                                           NOISE=0,1,2
#   experiments/cordsnet_staged.sh --smoke  64 images, a short protocol, 4 channels (CI)
#   WEIGHT_NORM=true ...                    every stage trained through the reference's weight
#                                           norm (g and v handed from stage to stage; OUT defaults
#                                           to runs/cordsnet_staged_wn)
# Each stage resumes where it stopped. A stage reads the one before's model.npz as it finished:
# after extending an earlier stage, remove the later stages' runs to rebuild them on it.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-"1"}
train=${TRAIN:-10000}
test=${TEST:-2000}
width=${WIDTH:-32}
batch=${BATCH:-16}
cnn_epochs=${CNN_EPOCHS:-1}
inverse_epochs=${INVERSE_EPOCHS:-10}
inverse_batch=${INVERSE_BATCH:-64}
linear_updates=${LINEAR_UPDATES:-312}
levels=${ANNEAL_LEVELS:-4}
level_updates=${LEVEL_UPDATES:-78}
final_updates=${FINAL_UPDATES:-312}
fine_lr=${FINE_LR:-1e-4}
evals=${EVALS:-1}
weight_norm=${WEIGHT_NORM:-false}
out=${OUT:-runs/cordsnet_staged$([[ $weight_norm == true ]] && echo _wn || true)}
data=${DATA:-/usr/share/datasets/fashion-mnist}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; train=64; test=32; width=4; batch=8; inverse_batch=16
  linear_updates=4; levels=2; level_updates=2; final_updates=4; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash

# stage_config STAGE FROM: the config of one stage, on stdout
stage_config() {
  local stage=$1 from=$2
  $bin config --kind cordsnet \
    | sed "s|^path = .*|path = \"$data\"|; s/^train_images = .*/train_images = $train/; s/^test_images = .*/test_images = $test/" \
    | sed "s/^widths = .*/widths = [$width, $((2 * width)), $((4 * width)), $((8 * width))]/; s/^batch_size = .*/batch_size = $batch/" \
    | sed "s|^from = .*|from = \"$from\"|; s/^weight_norm = .*/weight_norm = $weight_norm/" \
    | if $smoke; then
        sed 's/^spontaneous_steps = .*/spontaneous_steps = 10/; s/^stimulus_steps = .*/stimulus_steps = 12/; s/^loss_steps = .*/loss_steps = 4/; s/^offset_steps = .*/offset_steps = 6/; s/^penalty_steps = .*/penalty_steps = 3/'
      else cat; fi \
    | case $stage in
        1) sed 's/^form = .*/form = "cnn"/' ;;
        # stage 2 trains at the reference's rate and clip, and evaluates the linear network as
        # stage 3 runs it
        2) sed "s/^kind = \"bptt\".*/kind = \"inverse\"/; s/^activation = .*/activation = \"linear\"/; s/^batch_size = .*/batch_size = $inverse_batch/" \
             | sed 's/^learning_rate = .*/learning_rate = 1e-4/; s/^clip_norm = .*/clip_norm = 1e-3/; s/^spontaneous_steps = .*/spontaneous_steps = 0/; s/^offset_steps = .*/offset_steps = 0/; s/^penalty_steps = .*/penalty_steps = 0/' ;;
        3) sed "s/^activation = .*/activation = \"linear\"/; s/^learning_rate = .*/learning_rate = $fine_lr/" \
             | sed 's/^spontaneous_steps = .*/spontaneous_steps = 0/; s/^offset_steps = .*/offset_steps = 0/; s/^penalty_steps = .*/penalty_steps = 0/' ;;
        4) sed "s/^activation = .*/activation = \"prelu\"/; s/^anneal_levels = .*/anneal_levels = $levels/; s/^anneal_level_updates = .*/anneal_level_updates = $level_updates/; s/^learning_rate = .*/learning_rate = $fine_lr/" ;;
        5) sed "s/^learning_rate = .*/learning_rate = $fine_lr/" ;;
      esac
}

for seed in $seeds; do
  prev=""
  for stage in 1 2 3 4 5; do
    case $stage in
      1) steps=$(( cnn_epochs * train / batch )) ;;
      2) steps=$(( inverse_epochs * train / inverse_batch )) ;;
      3) steps=$linear_updates ;;
      4) steps=$(( levels * level_updates )) ;;
      5) steps=$final_updates ;;
    esac
    run="$out/stage$stage/seed-$seed"
    cfg=$(mktemp --suffix=.toml)
    stage_config $stage "$prev" > "$cfg"
    sed -i "s/^eval_every = .*/eval_every = $(( steps / evals > 0 ? steps / evals : 1 ))/" "$cfg"
    train_to "$run" "$steps" "$seed" "$cfg" > /dev/null
    rm -f "$cfg"
    prev="$(realpath "$run")/model.npz"
  done
  final="$out/stage5/seed-$seed"
  # scored again when training went on since (a larger budget rewrites summary.json)
  if [[ ! "$final/analysis/noise_static.csv" -nt "$final/summary.json" ]]; then
    $bin analyze "$final" > /dev/null
    $bin noise "$final" --input ${NOISE:-0,1,2} > /dev/null
    mv "$final/analysis/noise.csv" "$final/analysis/noise_static.csv"
  fi
done
python3 - "$out" <<'PY'
import csv, glob, json, sys
root = sys.argv[1]
names = {1: "1 compatibility CNN", 2: "2 fold + inverse fit (linear net)", 3: "3 linear net",
         4: "4 PReLU annealed to ReLU", 5: "5 ReLU"}
print("| stage | seed | updates | test accuracy | test loss | minutes | accuracy at the evaluations |")
print("|---|---|---|---|---|---|---|")
for stage in range(1, 6):
    for r in sorted(glob.glob(f"{root}/stage{stage}/seed-*")):
        try:
            s = json.load(open(f"{r}/summary.json"))
            rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
        except OSError:
            continue
        curve = ", ".join(f"{float(x['test_accuracy']):.3f}" for x in rows)
        print(f"| {names[stage]} | {r.rsplit('-', 1)[1]} | {s['steps']} | {s['test_accuracy']:.4f} | {s['test_loss']:.4f} | {s['wall_s'] / 60:.1f} | {curve} |")
        if stage == 2 and rows:
            last = rows[-1]
            # the fit on the first 64 test images, before the first update and after the last
            print(f"|  CNN {float(last['cnn_accuracy']):.4f}, folded CNN {float(last['folded_cnn_accuracy']):.4f}; fit error {float(rows[0]['fit_error']):.4f} -> {float(last['fit_error']):.4f}, penalty {float(rows[0]['fit_penalty']):.2e} -> {float(last['fit_penalty']):.2e} | | | | | | |")
for r in sorted(glob.glob(f"{root}/stage5/seed-*")):
    try:
        rows = list(csv.DictReader(open(f"{r}/analysis/noise_static.csv")))
        print(f"\n{r}, image noise drawn once: | sigma | " + " | ".join(x["input_std"] for x in rows) + " |")
        print("accuracy: | " + " | ".join(f"{float(x['test_accuracy']):.4f}" for x in rows) + " |")
        spectra = list(csv.DictReader(open(f"{r}/analysis/spectra.csv")))
    except OSError:
        continue
    for area in sorted({x["area"] for x in spectra}):
        res = [float(x["re"]) for x in spectra if x["area"] == area]
        mods = [abs(complex(float(x["re"]), float(x["im"]))) for x in spectra if x["area"] == area]
        print(f"{r}: area {area}: largest |eig| {max(mods):.3f}, largest Re {max(res):.3f}")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
