#!/usr/bin/env bash
# Mod-Cog sparsity sweep (Khona et al. 2023, claim a): 256-unit networks on the 82 Mod-Cog tasks
# whose recurrent weights are a fixed local graph on a ring, at several densities, several seeds
# each, then a table of updates to criterion (mean decision accuracy 0.9) and accuracy at fixed
# budgets (with the density of each setting and the trials to criterion), a plot of accuracy against
# trials (docs/figures/modcog_sparsity.*) and one of accuracy at each budget against density
# (docs/figures/modcog_sparsity_density.*).
#
#   experiments/modcog_sparsity.sh            SETTINGS="autapse local4 local16 dense" SEEDS="1 2 3" MAX_STEPS=30000
#   experiments/modcog_sparsity.sh --smoke    two settings, one seed, 4 updates (CI)
#   SETTINGS="local2 local8 local32 sheet16" experiments/modcog_sparsity.sh   the optional densities
#
# Settings (ring distance |i - j| mod 256, hard radius r, self-connections included):
#   autapse  r = 0, density 1/256 = 0.39%     local2  r = 2, 5/256 = 1.95%
#   local4   r = 5, 11/256 = 4.30%            local8  r = 10, 21/256 = 8.20%
#   local16  r = 20, 41/256 = 16.0%           local32 r = 41, 83/256 = 32.4%
#   dense    100%                             sheet16 16 x 16 torus, Euclidean r = sqrt 2, 9/256 = 3.52%
# Every run resumes where it stopped: run the script again to continue a killed sweep, or with a
# larger MAX_STEPS to continue finished runs to it (bit for bit the runs trained to it at once, as
# the budgets are multiples of the evaluation interval).
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
settings=${SETTINGS:-"autapse local4 local16 dense"}
seeds=${SEEDS:-"1 2 3"}
max_steps=${MAX_STEPS:-30000}
out=${OUT:-runs/modcog_sparsity}
figure=${FIGURE:-docs/figures/modcog_sparsity}
budgets=${BUDGETS:-"1000,3000,10000,30000"}
base=configs/modcog82.toml
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; settings="autapse local4"; seeds="1"; max_steps=4; out=$(mktemp -d); figure="$out/fig"
fi
cargo build --release -q
bin=./target/release/biornn
source experiments/lib.bash
mask() {
  case "$1" in
    autapse) echo '{ kind = "local", radius = 0.0 }' ;;
    local2) echo '{ kind = "local", radius = 2.0 }' ;;
    local4) echo '{ kind = "local", radius = 5.0 }' ;;
    local8) echo '{ kind = "local", radius = 10.0 }' ;;
    local16) echo '{ kind = "local", radius = 20.0 }' ;;
    local32) echo '{ kind = "local", radius = 41.0 }' ;;
    sheet16) echo '{ kind = "local", width = 16, radius = 1.4142135623730951, periodic = true }' ;;
    dense) echo '{ kind = "dense" }' ;;
    *) echo "unknown setting $1" >&2; exit 1 ;;
  esac
}
for setting in $settings; do
  for seed in $seeds; do
    cfg=$(mktemp --suffix=.toml)
    { cat "$base"; printf '\n[model.mask]\nrecurrent = %s\n' "$(mask "$setting")"; } > "$cfg"
    if $smoke; then smoke_config "$cfg"; fi
    train_to "$out/$setting/seed-$seed" "$max_steps" "$seed" "$cfg"
    rm -f "$cfg"
  done
done
$bin runs-summary "$out" --value mean_acc --level 0.9 --budgets "$budgets" --x trials --figure "$figure"
# decision accuracy by task family (base: the 20 tasks) per setting, mean over seeds, at the
# largest budget every run has reached
python3 - "$out" <<'PY' || true
import csv, glob, os, sys
runs = {}
for setting in sorted(os.listdir(sys.argv[1])):
    for f in sorted(glob.glob(f"{sys.argv[1]}/{setting}/*/metrics.csv")):
        rows = [r for r in csv.DictReader(open(f)) if r.get("mean_acc")]
        if rows:
            runs.setdefault(setting, []).append(rows)
if runs:
    common = min(int(rows[-1]["step"]) for rs in runs.values() for rows in rs)
    print(f"| setting | seeds | base | seq | int | all (at {common} updates) |")
    print("|---|---|---|---|---|---|")
    groups = [
        lambda t: not any(s in t for s in ("seqr", "seql", "intr", "intl")),
        lambda t: t.endswith(("seqr", "seql")) and "int" not in t,
        lambda t: ("intr" in t or "intl" in t) and "seq" not in t,
    ]
    for setting, rs in runs.items():
        at = [[r for r in rows if int(r["step"]) <= common][-1] for rows in rs]
        def fam(r, keep):
            v = [float(x) for k, x in r.items() if k.startswith("acc_") and keep(k[4:])]
            return sum(v) / max(len(v), 1)
        cells = [sum(fam(r, g) for r in at) / len(at) for g in groups]
        mean = sum(float(r["mean_acc"]) for r in at) / len(at)
        print(f"| {setting} | {len(at)} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {mean:.3f} |")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
