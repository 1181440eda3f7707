#!/usr/bin/env bash
# Steps to criterion for base, SCTT, DASC and CD on delayed tasks of the skip-connection paper's
# suite (Soo et al. 2023), NETWORKS networks per setting, then a table (median and interquartile
# range of each network's updates to 0.99, rounds to the trimmed-mean criterion, training seconds)
# and a plot of the fraction of networks at criterion against updates (docs/figures/longterm.*).
#
#   experiments/longterm.sh                   TASKS="dlygo dms" NETWORKS=20 MAX_ROUNDS=400 by default
#   experiments/longterm.sh --smoke           2 networks, 2 rounds, to check that the pipeline runs (CI)
#   TASKS="dlygo dlyanti dms" METHODS="base dasc-t40-s2-b0.5" experiments/longterm.sh
#   TASKS=dlygo METHODS="base dasc-t40-s2-b0.5" MAX_ROUNDS=4000 experiments/longterm.sh
#                                             to the criterion, capped at the reference's 40,000
#                                             updates; a setting that outlives a session is kept
#                                             with experiments/carry.sh and continues here
#   METHODS="dasc-t40-s2-b0.5+stale" ...      DASC with the reference code's stale derivative
#                                             (--derivative stale; runs in dasc-...-stale/) beside
#                                             the paper's equation (the default)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/lib.bash
tasks=${TASKS:-"dlygo dms"}
methods=${METHODS:-"base sctt-t40-s11-b0.8 dasc-t40-s2-b0.5 cd-s6"}
networks=${NETWORKS:-20}
max_rounds=${MAX_ROUNDS:-400}
out=${OUT:-runs/longterm}
figure=${FIGURE:-docs/figures/longterm}
if [[ "${1:-}" == "--smoke" ]]; then
  networks=2; max_rounds=2; tasks="dlygo"; out=$(mktemp -d); figure="$out/longterm"
  methods="base dasc-t40-s2-b0.5+stale"
fi
cargo build --release -q
bin=./target/release/biornn
for task in $tasks; do
  for setting in $methods; do
    method=${setting%+stale}
    derivative=block-start; name=$method
    if [[ "$setting" == *+stale ]]; then derivative=stale; name=$method-stale; fi
    dir="$out/$task/$name"
    # a setting carried over (experiments/carry.sh), killed part-way or finished short of
    # max_rounds goes on from where it is
    if protocol_to "$dir" "$max_rounds"; then continue; fi
    $bin longterm "$task" --method "$method" --derivative "$derivative" --networks "$networks" \
      --max-rounds "$max_rounds" --quiet --out "$dir"
  done
done
$bin longterm-summary "$out" --figure "$figure"
if [[ "${1:-}" == "--smoke" ]]; then rm -rf "$out"; fi
exit
}
