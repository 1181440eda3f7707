#!/usr/bin/env bash
# Steps to criterion for base, SCTT, DASC and CD on delayed tasks of the skip-connection paper's
# suite (Soo et al. 2023), NETWORKS networks per setting, then a table (median and interquartile
# range of each network's updates to 0.99, rounds to the trimmed-mean criterion, training seconds)
# and a plot of the fraction of networks at criterion against updates (docs/figures/longterm.*).
#
#   experiments/longterm.sh                   TASKS="dlygo dms" NETWORKS=20 MAX_ROUNDS=4000 by
#                                             default: to the criterion, capped at the reference's
#                                             40,000 updates; a setting that outlives a session is
#                                             kept with experiments/carry.sh and continues here
#   experiments/longterm.sh --smoke           2 networks, 2 rounds, to check that the pipeline runs (CI)
#   TASKS="dlygo dlyanti dms" METHODS="base dasc-t40-s2-b0.5" experiments/longterm.sh
#   MAX_ROUNDS=400 OUT=runs/longterm400 ...   a shorter budget (its stages are half of it, so it
#                                             is another run than the 4000-round one: OUT apart)
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
max_rounds=${MAX_ROUNDS:-4000}
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
    restore_carried "$dir" # a setting an earlier session carried over (experiments/carry.sh)
    # a setting killed part-way, or finished short of max_rounds, goes on from where it is; one
    # that met the criterion or ran max_rounds is left as it is (biornn longterm --out)
    $bin longterm "$task" --method "$method" --derivative "$derivative" --networks "$networks" \
      --max-rounds "$max_rounds" --quiet --out "$dir"
  done
done
$bin longterm-summary "$out" --figure "$figure"
if [[ "${1:-}" == "--smoke" ]]; then rm -rf "$out"; fi
exit
}
