#!/usr/bin/env bash
# a^n b^n next-symbol prediction (Cheng and Brown 2025, CogControlLab/R2N2 exp_anbn): R2N2 with
# the exact replay gradient (trained in f64, and in f32), with the published one (code_parity), with feedback alignment, RFLO,
# the reference's echo-state network, the classic one (ridge readout), and BPTT on a non-reversible CTRNN of the same unit count,
# on the datasets n = m .. m + 3, several seeds each; and R2N2 with the cache wired between
# experience and replay (r2n2_wired: both replays fed from the cache's recall; m <= 6 only, as
# the cache's cost grows with the square of its size and the sequence's length). Every run stops once all four sequences
# succeed (at most one wrong prediction each) or after 40,000 sequences (the reference's 10,000
# epochs of 4). Prints, per rule and m, how many seeds got there, the median sequences to it and
# the training success over the last evaluation interval.
#
#   experiments/anbn_replay.sh              SEEDS="1 .. 10" MS="1 6 11 16 21 26" MAX_STEPS=40000
#   experiments/anbn_replay.sh --smoke      one m, one seed, 40 sequences (CI)
# Runs resume where they stopped; run the script again to continue or to add seeds.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${RULES:-"r2n2_exact r2n2_f32 r2n2_parity r2n2_fa rflo esn esn_ridge bptt r2n2_wired"}
ms=${MS:-"1 6 11 16 21 26"}
seeds=${SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
max_steps=${MAX_STEPS:-40000}
out=${OUT:-runs/anbn_replay}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; ms="6"; seeds="1"; max_steps=40; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
config() {
  local rule=$1 m=$2 cfg=$3
  case "$rule" in
    r2n2_exact) sed "s/^m = .*/m = $m/" configs/r2n2_anbn.toml ;;
    r2n2_f32) sed "s/^m = .*/m = $m/; s/^# precision = .*/precision = \"f32\"/" configs/r2n2_anbn.toml ;;
    r2n2_parity) sed "s/^m = .*/m = $m/; s/^code_parity = .*/code_parity = true/" configs/r2n2_anbn.toml ;;
    r2n2_fa) sed "s/^m = .*/m = $m/; s/^feedback = .*/feedback = \"fa\"/" configs/r2n2_anbn.toml ;;
    r2n2_wired) sed "s/^m = .*/m = $m/; s/^wired = .*/wired = true/" configs/r2n2_anbn.toml ;;
    rflo) sed "s/^m = .*/m = $m/" configs/rflo_anbn.toml ;;
    esn) sed "s/^m = .*/m = $m/" configs/esn_anbn.toml ;;
    esn_ridge) sed "s/^m = .*/m = $m/; s/^readout = .*/readout = \"ridge\"/" configs/esn_anbn.toml ;;
    bptt) sed "s/^rules = .*/rules = [\"anbn$m\"]/" configs/ctrnn_anbn.toml ;;
    *) echo "unknown rule $rule" >&2; exit 1 ;;
  esac > "$cfg"
  # the replay rules stop once every sequence succeeds, as BPTT does at target_perf = 1
  if [[ "$rule" != bptt ]]; then
    sed -i 's/^# target_success = .*/target_success = 1.0/' "$cfg"
  fi
  if $smoke; then smoke_config "$cfg"; fi
}
for rule in $rules; do
  for m in $ms; do
    if [[ "$rule" == r2n2_wired && "$m" -gt 6 ]]; then continue; fi
    for seed in $seeds; do
      cfg=$(mktemp --suffix=.toml)
      config "$rule" "$m" "$cfg"
      train_to "$out/$rule/m$m/seed-$seed" "$max_steps" "$seed" "$cfg" > /dev/null
      rm -f "$cfg"
    done
  done
done
python3 - "$out" "$max_steps" <<'PY'
import csv, glob, json, os, statistics, sys
root, budget = sys.argv[1], int(sys.argv[2])
print(f"| rule | m | seeds | all four succeed | median sequences to it | success at the end (training, last interval; bptt: evaluation) |")
print("|---|---|---|---|---|---|")
for rule in sorted(os.listdir(root)):
    for mdir in sorted(os.listdir(f"{root}/{rule}"), key=lambda s: int(s[1:])):
        runs = sorted(glob.glob(f"{root}/{rule}/{mdir}/seed-*"))
        reached, steps, train = 0, [], []
        for r in runs:
            try:
                s = json.load(open(f"{r}/summary.json"))
            except OSError:
                continue
            rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
            if s.get("reached_target"):
                reached += 1
                steps.append(s["steps"])
            last = rows[-1] if rows else {}
            t = last.get("train_success") or last.get(f"perf_anbn{mdir[1:]}")
            if t:
                train.append(float(t))
        med = statistics.median(steps) if steps else float("nan")
        tr = statistics.mean(train) if train else float("nan")
        print(f"| {rule} | {mdir[1:]} | {len(runs)} | {reached} | {med:.0f} | {tr:.3f} |")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
