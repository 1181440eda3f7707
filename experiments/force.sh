#!/usr/bin/env bash
# FORCE (Sussillo and Abbott 2009): a chaotic reservoir (g = 1.5, 10% connectivity) whose readout
# learns by RLS with output feedback, on the sum of four sines and on a triangle wave (period 1,200
# steps), trained 24,000 steps (20 periods), then run freely with the readout frozen for 10
# periods; and the same on biornn's CTRNN (`[network] kind = "ctrnn"`: tanh units in the current
# convention, 10% of connections, spectral radius 1.5, dt / tau = 0.1). Prints, per network,
# target and size, how many seeds keep the relative RMS error (RMSE over the target's standard
# deviation) below 0.05, and its median.
#
#   experiments/force.sh   SEEDS="1 .. 10" SIZES="300 1000" TARGETS="sines triangle" NETWORKS="reservoir ctrnn"
#   experiments/force.sh --smoke         one seed, 100 units, 600 steps (CI)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/lib.bash
seeds=${SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
sizes=${SIZES:-"300 1000"}
targets=${TARGETS:-"sines triangle"}
networks=${NETWORKS:-"reservoir ctrnn"}
steps=${MAX_STEPS:-24000}
out=${OUT:-runs/force}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; sizes="100"; steps=600; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
for network in $networks; do
if [[ $network == ctrnn ]]; then
  base=$($bin config --kind ctrnn_force); prefix="ctrnn-"
else
  base=$($bin config --kind reservoir); prefix=""
fi
for target in $targets; do
  for n in $sizes; do
    for seed in $seeds; do
      dir="$out/$prefix$target/n$n/seed-$seed"
      cfg=$(mktemp --suffix=.toml)
      # one evaluation, at the end: 10 periods run freely from where training stopped
      echo "$base" | sed "s/^n_rec = .*/n_rec = $n/; s/^kind = \"sines\" .*/kind = \"$target\"/; \
        s/^eval_every = .*/eval_every = $steps/; s/^eval_steps = .*/eval_steps = 12000/" > "$cfg"
      # a finished run is left as it is, a killed one resumes (experiments/lib.bash)
      train_to "$dir" "$steps" "$seed" "$cfg" > /dev/null
      rm -f "$cfg"
    done
  done
done
done
python3 - "$out" <<'PY'
import csv, glob, math, os, statistics, sys
root = sys.argv[1]
print("| network | target | units | seeds | relative RMS < 0.05 over 10 frozen periods | median relative RMS |")
print("|---|---|---|---|---|---|")
for name in sorted(os.listdir(root), key=lambda s: (s.startswith("ctrnn-"), s)):
    network, target = ("ctrnn", name[6:]) if name.startswith("ctrnn-") else ("reservoir", name)
    for ndir in sorted(os.listdir(f"{root}/{name}"), key=lambda s: int(s[1:])):
        rel = []
        for r in sorted(glob.glob(f"{root}/{name}/{ndir}/seed-*/metrics.csv")):
            rows = list(csv.DictReader(open(r)))
            r2 = float(rows[-1]["eval_r2"])
            rel.append(math.sqrt(max(0.0, 1.0 - r2)))
        ok = sum(v < 0.05 for v in rel)
        med = statistics.median(rel) if rel else float("nan")
        print(f"| {network} | {target} | {ndir[1:]} | {len(rel)} | {ok} | {med:.3f} |")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
