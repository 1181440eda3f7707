#!/usr/bin/env bash
# CordsNet (Soo, Battista, Radmard, Wang 2024; wmws2/cordsnet) on Fashion-MNIST at its native
# 28 x 28 (Debian's dataset-fashion-mnist): R2 with the reference's time protocol (100 spontaneous,
# 100 stimulus and 100 offset steps of 2 ms, alpha 0.2) and final-stage loss, trained from random
# weights by BPTT (AdamW) on a subset of the training images (the reference: ImageNet at
# 224 x 224, five stages, about 140 epochs); beside it the compatibility CNN of the same layer graph
# (batch norm in place of the dynamics), trained on the same images, batches and budget. Then, per
# run: the test accuracy under Gaussian noise on the image (drawn once; for CordsNet also every
# step, and in the dynamics: `biornn noise`), and CordsNet's recurrent spectra at the spontaneous
# state (`biornn analyze`). Prints the tables.
#
#   experiments/cordsnet_fashion.sh          SEEDS="1" EPOCHS=1 TRAIN=10000 TEST=2000 WIDTH=32
#                                            FORMS="rnn cnn"
#   experiments/cordsnet_fashion.sh --smoke  64 images, a short protocol, 4 channels (CI)
#   WEIGHT_NORM=true experiments/cordsnet_fashion.sh   trained through the reference's weight norm
#                                            (AdamW on g and v; runs in r2-wn/ and cnn-wn/)
# Runs resume where they stopped; run the script again with more EPOCHS or SEEDS to extend.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-"1"}
forms=${FORMS:-"rnn cnn"}
epochs=${EPOCHS:-1}
train=${TRAIN:-10000}
test=${TEST:-2000}
width=${WIDTH:-32}
batch=${BATCH:-16}
weight_norm=${WEIGHT_NORM:-false}
suffix=$([[ $weight_norm == true ]] && echo "-wn" || true)
out=${OUT:-runs/cordsnet_fashion}
data=${DATA:-/usr/share/datasets/fashion-mnist}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; train=64; test=32; width=4; batch=8; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
steps=$(( epochs * train / batch ))
for form in $forms; do
  for seed in $seeds; do
    cfg=$(mktemp --suffix=.toml)
    $bin config --kind cordsnet \
      | sed "s|^path = .*|path = \"$data\"|; s/^train_images = .*/train_images = $train/; s/^test_images = .*/test_images = $test/" \
      | sed "s/^widths = .*/widths = [$width, $((2 * width)), $((4 * width)), $((8 * width))]/; s/^batch_size = .*/batch_size = $batch/" \
      | sed "s/^eval_every = .*/eval_every = $(( steps / 4 > 0 ? steps / 4 : 1 ))/; s/^form = .*/form = \"$form\"/" \
      | sed "s/^weight_norm = .*/weight_norm = $weight_norm/" > "$cfg"
    if $smoke; then
      sed -i 's/^spontaneous_steps = .*/spontaneous_steps = 10/; s/^stimulus_steps = .*/stimulus_steps = 12/; s/^loss_steps = .*/loss_steps = 4/; s/^offset_steps = .*/offset_steps = 6/; s/^penalty_steps = .*/penalty_steps = 3/' "$cfg"
    fi
    run="$out/$([[ $form == rnn ]] && echo r2 || echo cnn)$suffix/seed-$seed"
    train_to "$run" "$steps" "$seed" "$cfg" > /dev/null
    rm -f "$cfg"
    # scored again when training went on since (a larger budget rewrites summary.json)
    if [[ ! "$run/analysis/noise_static.csv" -nt "$run/summary.json" ]]; then
      $bin noise "$run" --input 0,0.25,0.5,1,2 > /dev/null
      mv "$run/analysis/noise.csv" "$run/analysis/noise_static.csv"
    fi
    if [[ $form == rnn && ! "$run/analysis/noise_dynamics.csv" -nt "$run/summary.json" ]]; then
      $bin analyze "$run" > /dev/null
      $bin noise "$run" --input 0.25,0.5,1,2 --per-step > /dev/null
      mv "$run/analysis/noise.csv" "$run/analysis/noise_per_step.csv"
      $bin noise "$run" --input 0 --dynamics 0.25,0.5,1,2 > /dev/null
      mv "$run/analysis/noise.csv" "$run/analysis/noise_dynamics.csv"
    fi
  done
done
python3 - "$out" <<'PY'
import csv, glob, json, statistics, sys
root = sys.argv[1]
print("| network | seed | updates | parameters | test accuracy | test loss | minutes |")
print("|---|---|---|---|---|---|---|")
for r in sorted(glob.glob(f"{root}/*/seed-*")):
    try:
        s = json.load(open(f"{r}/summary.json"))
    except OSError:
        continue
    net = {"r2": "CordsNet R2", "cnn": "compatibility CNN"}[r.split("/")[-2].removesuffix("-wn")]
    net += ", weight norm" if r.split("/")[-2].endswith("-wn") else ""
    print(f"| {net} | {r.rsplit('-', 1)[1]} | {s['steps']} | {s.get('parameters', '-')} | {s['test_accuracy']:.4f} | {s['test_loss']:.4f} | {s['wall_s'] / 60:.1f} |")
for kind, col, nets in [("static", "input_std", ("r2", "cnn", "r2-wn", "cnn-wn")), ("per_step", "input_std", ("r2", "r2-wn")), ("dynamics", "dynamics_std", ("r2", "r2-wn"))]:
    for net in nets:
        rows = {}
        for r in sorted(glob.glob(f"{root}/{net}/seed-*")):
            try:
                for row in csv.DictReader(open(f"{r}/analysis/noise_{kind}.csv")):
                    rows.setdefault(float(row[col]), []).append(float(row["test_accuracy"]))
            except OSError:
                pass
        if rows:
            print(f"\n{net}, noise ({kind}): | {col} | " + " | ".join(f"{k:g}" for k in sorted(rows)) + " |")
            print("accuracy (mean over seeds): | " + " | ".join(f"{statistics.mean(rows[k]):.4f}" for k in sorted(rows)) + " |")
for r in sorted(glob.glob(f"{root}/r2*/seed-*")):
    try:
        rows = list(csv.DictReader(open(f"{r}/analysis/spectra.csv")))
    except OSError:
        continue
    for area in sorted({row["area"] for row in rows}):
        res = [float(x["re"]) for x in rows if x["area"] == area]
        mods = [abs(complex(float(x["re"]), float(x["im"]))) for x in rows if x["area"] == area]
        print(f"{r}: area {area}: largest |eig| {max(mods):.3f}, largest Re {max(res):.3f}, slowest relaxation {10 / (1 - max(res)):.1f} ms")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
