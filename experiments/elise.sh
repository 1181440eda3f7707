#!/usr/bin/env bash
# ELiSe (Kriener, Völk et al. 2024; unibe-cns/temporal_sequence_learning): two-compartment
# neurons with a developmental scaffold learn Für Elise (13 visible neurons, 25 steps of 10 ms)
# by the always-on Urbanczik-Senn rule, 10,000 training cycles each (the reference's TC), every
# 20th cycle free. Then each trained network replays 100 cycles (3 nudged) plainly and under the
# reference's four disruptions (`biornn replay`).
#   sizes      free-run error against cycles for 10, 20, 30, 50 and 100 latent neurons (Fig. 2)
#   reservoir  the reservoir ablation (only weights onto visible neurons learn) at 50 (Fig. 3)
#   tempo      the pattern at half and at double tempo (20 and 5 ms steps), 50 latent neurons
#   noisy      noisy targets (ours: OU noise of 2 mV, 10 ms on u*, resampled each cycle), 50 latent
#   two        two patterns in one latent pool of 50, each its own visible population (Für Elise
#              and our Ode to Joy at once), beside Ode to Joy alone
#   scaffold   the scaffold's (p, q) on a 3 x 3 grid, 50 latent (Fig. 4)
#   sparse     dendritic connections at density 0.3, with and without a protected scaffold (Fig. 4)
# Prints the free-run and nudged errors at the end of training, and the replay table.
#
#   experiments/elise.sh            SEEDS="1 2 3" PARTS="sizes reservoir tempo noisy two" CYCLES=10000
#                                   (PARTS="scaffold sparse" for Fig. 4)
#   experiments/elise.sh --smoke    one seed, 10 latent neurons, 21 cycles, 8 replay cycles (CI)
# Runs resume where they stopped; run the script again to continue or to add seeds.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-"1 2 3"}
parts=${PARTS:-"sizes reservoir tempo noisy two"}
sizes=${SIZES:-"10 20 30 50 100"}
cycles=${CYCLES:-10000}
replay_cycles=${REPLAY_CYCLES:-100}
out=${OUT:-runs/elise}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; seeds="1"; sizes="10"; parts="sizes reservoir tempo noisy two sparse"; cycles=21; replay_cycles=8
  out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
run() {  # run SETTING SEED SED-EXPRESSION
  local setting=$1 seed=$2 edit=$3 cfg
  cfg=$(mktemp --suffix=.toml)
  $bin config --kind elise | sed "$edit" > "$cfg"
  if $smoke; then sed -i 's/^n_latent = .*/n_latent = 10/' "$cfg"; fi
  train_to "$out/$setting/seed-$seed" "$cycles" "$seed" "$cfg" > /dev/null
  rm -f "$cfg"
  # replayed again when training went on since (a larger CYCLES rewrites summary.json)
  if [[ ! "$out/$setting/seed-$seed/analysis/replay.csv" -nt "$out/$setting/seed-$seed/summary.json" ]]; then
    $bin replay "$out/$setting/seed-$seed" --cycles "$replay_cycles" > /dev/null
  fi
}
for seed in $seeds; do
  for part in $parts; do
    case "$part" in
      sizes) for n in $sizes; do run "latent$n" "$seed" "s/^n_latent = .*/n_latent = $n/"; done ;;
      reservoir) run reservoir50 "$seed" 's/^mode = .*/mode = "reservoir"/' ;;
      tempo)
        run half_tempo "$seed" 's/^step_ms = .*/step_ms = 20.0/'
        run double_tempo "$seed" 's/^step_ms = .*/step_ms = 5.0/' ;;
      noisy) run noisy50 "$seed" 's/^target_noise_std = .*/target_noise_std = 2.0/' ;;
      two)
        run ode_to_joy50 "$seed" 's/^pattern = .*/pattern = "ode_to_joy"/'
        run two_patterns50 "$seed" 's/^pattern = .*/pattern = ["fuer_elise", "ode_to_joy"]/' ;;
      scaffold)
        for p in 0.1 0.2 0.4; do for q in 0.05 0.15 0.3; do
          run "scaffold_p${p}_q${q}" "$seed" "s/^scaffold_p = .*/scaffold_p = $p/; s/^scaffold_q = .*/scaffold_q = $q/"
        done; done ;;
      sparse)
        for protect in true false; do
          run "sparse0.3_protect_$protect" "$seed" "s/^connect = .*/connect = { kind = \"sparse\", density = 0.3, protect_scaffold = $protect }/"
        done ;;
      *) echo "unknown part $part" >&2; exit 1 ;;
    esac
  done
done
python3 - "$out" <<'PY'
import csv, glob, os, statistics, sys
root = sys.argv[1]
def mean(xs):
    return statistics.mean(xs) if xs else float("nan")
print("| setting | seeds | cycles | free-run MSE | nudged MSE | free correlation (of the visible) | replay MSE, last 10 free cycles | full silencing: cycles to MSE < 0.01 | silenced, then cued: cycles to MSE < 0.01 | ms a cycle |")
print("|---|---|---|---|---|---|---|---|---|---|")
parts = {}
for setting in sorted(os.listdir(root)):
    free, nudged, corr, rep, rec, cued, steps, ms = [], [], [], [], [], [], [], []
    for r in sorted(glob.glob(f"{root}/{setting}/seed-*")):
        rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
        if not rows:
            continue
        last = rows[-1]
        steps.append(int(last["step"]))
        ms.append(1000 * float(last["wall_s"]) / max(1, int(last["step"])))
        free.append(float(last["free_mse"])); nudged.append(float(last["nudged_mse"]))
        corr.append(float(last["free_correlation"]))
        for k, v in last.items():
            if k.startswith("free_mse_"):
                parts.setdefault(setting, {}).setdefault(k[len("free_mse_"):], []).append(float(v))
        try:
            rr = list(csv.DictReader(open(f"{r}/analysis/replay.csv")))
        except OSError:
            continue
        plain = [float(x["mse"]) for x in rr if x["variant"] == "none"]
        rep.append(mean(plain[-10:]))
        full = [(int(x["cycle"]), float(x["mse"])) for x in rr if x["variant"] == "full" and int(x["cycle"]) > 4]
        back = [c - 4 for c, m in full if m < 0.01]
        rec.append(str(back[0]) if back else "never")
        cue = [(int(x["cycle"]), float(x["mse"])) for x in rr if x["variant"] == "cued" and int(x["cycle"]) > 4]
        if cue:
            back = [c - 4 for c, m in cue if m < 0.01]
            cued.append(str(back[0]) if back else "never")
    if steps:
        print(f"| {setting} | {len(steps)} | {min(steps)} | {mean(free):.4f} | {mean(nudged):.4f} | {mean(corr):.2f} | {mean(rep):.4f} | {', '.join(rec)} | {', '.join(cued) or '-'} | {mean(ms):.1f} |")
for setting, by in parts.items():
    print(f"\n{setting}, free-run MSE per pattern: " + ", ".join(f"{k} {mean(v):.4f}" for k, v in by.items()))
PY
if $smoke; then rm -rf "$out"; fi
exit
}
