#!/usr/bin/env bash
# The cross-trial rule-reversal task of the skip-connection paper (Soo et al. 2023): accuracy of the
# plain network after a fixed budget for base, SCTT and DASC, with and without the trial-level skip,
# and CD; NETWORKS networks per setting. Prints a table (mean, median and interquartile range of the
# accuracy at the last evaluation) and plots mean accuracy against updates (FIGURE.png and .svg).
#
#   experiments/reversal.sh           NETWORKS=10 ROUNDS=1000 (10,000 updates, the reference's)
#   experiments/reversal.sh --smoke   2 networks, 2 rounds, to check that the pipeline runs (CI)
#   SETTINGS="base dasc-t40-s2-b0.5+trial" ROUNDS=300 OUT=runs/reversal300 experiments/reversal.sh
#                                     a shorter budget (its stages are half of it, so it is another
#                                     run than the 1000-round one: OUT apart)
# A setting that outlives a session is kept with experiments/carry.sh and continues here.
#
# A setting is a method name, with "+stale" for DASC's stale derivative (the reference code's;
# without it, the block-start derivative of the paper's equation) and "+trial" for the trial-level
# skip, in that order. The defaults are the reference's configurations (typeno 0-4 of
# main_rulereversaltask.py, whose DASC takes the stale derivative), its CD variant, then DASC with
# the block-start derivative.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/lib.bash
settings=${SETTINGS:-"base sctt-t40-s11-b0.8 dasc-t40-s2-b0.5+stale sctt-t40-s11-b0.8+trial dasc-t40-s2-b0.5+stale+trial cd-s2 dasc-t40-s2-b0.5 dasc-t40-s2-b0.5+trial"}
networks=${NETWORKS:-10}
rounds=${ROUNDS:-1000}
out=${OUT:-runs/reversal}
figure=${FIGURE:-docs/figures/reversal-$rounds-rounds}
per_pattern=5
if [[ "${1:-}" == "--smoke" ]]; then
  networks=2; rounds=2; per_pattern=1; settings="base dasc-t40-s2-b0.5+stale+trial"
  out=$(mktemp -d); figure="$out/reversal"
fi
cargo build --release -q
bin=./target/release/biornn
for setting in $settings; do
  dir="$out/$setting"
  restore_carried "$dir" # a setting an earlier session carried over (experiments/carry.sh)
  # a setting killed part-way, or finished with fewer rounds, goes on from where it is; one that
  # ran them is left as it is (biornn reversal --out)
  method=${setting%+trial}; method=${method%+stale}
  extra=()
  if [[ "$setting" == *+trial ]]; then extra+=(--trial-skip); fi
  if [[ "$setting" == *+stale* ]]; then extra+=(--derivative stale); fi
  # a setting stopped by the divergence guard (every network retired after diverging a fourth
  # time) is reported and left with its last good state; the others still run
  $bin reversal --method "$method" "${extra[@]}" --networks "$networks" --rounds "$rounds" \
    --per-pattern "$per_pattern" --quiet --out "$dir" ||
    echo "reversal: $setting stopped (above); going on with the next setting" >&2
done
$bin reversal-summary "$out" --figure "$figure"
if [[ "${1:-}" == "--smoke" ]]; then rm -rf "$out"; fi
exit
}
