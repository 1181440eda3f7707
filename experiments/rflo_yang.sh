#!/usr/bin/env bash
# RFLO (Murray 2019) training biornn's CTRNN on Yang tasks, beside BPTT on the same network,
# batches, loss and optimiser: a rule is not tied to one network. The default config's six tasks
# (fdgo, reactgo, delaygo, fdanti, reactanti, delayanti), 128 softplus units in the rate
# convention, Adam, batch 64. Rules: bptt; rflo_readout (RFLO's local credit with the error sent
# back through W_out^T); rflo_random (Murray's fixed random feedback) at Adam 1e-3 and at 1e-4.
# Prints, per rule, the mean over seeds of each task's performance and of the minimum and mean.
#
#   experiments/rflo_yang.sh             SEEDS="1 2 3" MAX_STEPS=5000
#   experiments/rflo_yang.sh --smoke     one seed, 20 updates (CI)
# Runs resume where they stopped; run the script again to continue, to add seeds or a budget.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${RULES:-"bptt rflo_readout rflo_random rflo_random_lr1e-4"}
seeds=${SEEDS:-"1 2 3"}
max_steps=${MAX_STEPS:-5000}
out=${OUT:-runs/rflo_yang}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; max_steps=20; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
config() {
  local rule=$1 cfg=$2
  $bin config > "$cfg"
  sed -i 's/^eval_every = .*/eval_every = 500/' "$cfg"
  case "$rule" in
    bptt) ;;
    rflo_readout) sed -i 's/^kind = "bptt" .*/kind = "rflo"\nfeedback = "readout"/' "$cfg" ;;
    rflo_random) sed -i 's/^kind = "bptt" .*/kind = "rflo"\nfeedback = "random"/' "$cfg" ;;
    rflo_random_lr1e-4) sed -i 's/^kind = "bptt" .*/kind = "rflo"\nfeedback = "random"/; s/^learning_rate = .*/learning_rate = 0.0001/' "$cfg" ;;
    *) echo "unknown rule $rule" >&2; exit 1 ;;
  esac
  if $smoke; then smoke_config "$cfg"; fi
}
for rule in $rules; do
  for seed in $seeds; do
    cfg=$(mktemp --suffix=.toml)
    config "$rule" "$cfg"
    train_to "$out/$rule/seed-$seed" "$max_steps" "$seed" "$cfg" > /dev/null
    rm -f "$cfg"
  done
done
python3 - "$out" <<'PY'
import csv, glob, os, statistics, sys
root = sys.argv[1]
tasks = ["fdgo", "reactgo", "delaygo", "fdanti", "reactanti", "delayanti"]
print("| rule | seeds | updates | " + " | ".join(tasks) + " | min | mean | eval loss |")
print("|---|---|---|" + "---|" * (len(tasks) + 3))
for rule in sorted(os.listdir(root)):
    rows = []
    for r in sorted(glob.glob(f"{root}/{rule}/seed-*")):
        m = list(csv.DictReader(open(f"{r}/metrics.csv")))
        if m:
            rows.append(m[-1])
    if not rows:
        continue
    mean = lambda k: statistics.mean(float(x[k]) for x in rows)
    cells = [f"{mean('perf_' + t):.3f}" for t in tasks]
    steps = min(int(x["step"]) for x in rows)
    print(f"| {rule} | {len(rows)} | {steps} | " + " | ".join(cells)
          + f" | {mean('min_perf'):.3f} | {mean('mean_perf'):.3f} | {mean('eval_loss'):.3f} |")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
