#!/usr/bin/env bash
# Autapse networks against local and dense ones (Khona et al. 2023, claim b): a pool of separated
# autapses (diagonal W_rec) should solve Yang-20 but not Mod-Cog's seq and int tasks, which need
# lateral recurrence. Trains each architecture on each battery, prints updates to criterion and
# the accuracy reached, and analyses the autapse networks (RUN/analysis/autapse.*: each unit's loop
# gain w_ii f'(x) over the delay).
#
#   experiments/modcog_autapse.sh           ARCHS="autapse local4 dense" BATTERIES="yang20 modcog_seqint"
#   experiments/modcog_autapse.sh --smoke   one architecture per battery, 4 updates (CI)
#   BATTERIES="yang_go6 modcog_dly" MAX_STEPS=4000 experiments/modcog_autapse.sh   minutes, not hours
#
# yang20: configs/yang20.toml (256 softplus units, every task to 0.9, MAX_STEPS updates at most).
# modcog_seqint: the 40 seq and 22 int tasks of Mod-Cog with configs/modcog82.toml's settings, to a
# mean decision accuracy of 0.9. Train the autapse network at least as long as the dense one needed
# (MAX_STEPS is the same for all). Every run resumes, and continues to a larger MAX_STEPS.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
archs=${ARCHS:-"autapse local4 dense"}
batteries=${BATTERIES:-"yang20 modcog_seqint"}
seed=${SEED:-1}
max_steps=${MAX_STEPS:-30000}
out=${OUT:-runs/modcog_autapse}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; archs="autapse"; max_steps=4; out=$(mktemp -d)
fi
cargo build --release -q
bin=./target/release/biornn
source experiments/lib.bash
mask() {
  case "$1" in
    autapse) echo '{ kind = "autapse_only" }' ;;
    local4) echo '{ kind = "local", radius = 5.0 }' ;;
    dense) echo '{ kind = "dense" }' ;;
    *) echo "unknown architecture $1" >&2; exit 1 ;;
  esac
}
config() {
  case "$1" in
    yang20) cat configs/yang20.toml ;;
    modcog_seqint)
      # every seq and int task of the 82
      sed 's/^rules = .*/rules = ["goseqr", "rtgoseqr", "dlygoseqr", "antiseqr", "rtantiseqr", "dlyantiseqr", "dm1seqr", "dm2seqr", "ctxdm1seqr", "ctxdm2seqr", "multidmseqr", "dlydm1seqr", "dlydm2seqr", "ctxdlydm1seqr", "ctxdlydm2seqr", "multidlydmseqr", "dmsseqr", "dnmsseqr", "dmcseqr", "dnmcseqr", "goseql", "rtgoseql", "dlygoseql", "antiseql", "rtantiseql", "dlyantiseql", "dm1seql", "dm2seql", "ctxdm1seql", "ctxdm2seql", "multidmseql", "dlydm1seql", "dlydm2seql", "ctxdlydm1seql", "ctxdlydm2seql", "multidlydmseql", "dmsseql", "dnmsseql", "dmcseql", "dnmcseql", "dlygointr", "dlygointl", "dlyantiintr", "dlyantiintl", "dlydm1intr", "dlydm1intl", "dlydm2intr", "dlydm2intl", "ctxdlydm1intr", "ctxdlydm1intl", "ctxdlydm2intr", "ctxdlydm2intl", "multidlydmintr", "multidlydmintl", "dmsintr", "dmsintl", "dnmsintr", "dnmsintl", "dmcintr", "dmcintl", "dnmcintr", "dnmcintl"]/' configs/modcog82.toml ;;
    # quick versions: the default job's six go/anti tasks (delayed ones included; 128 units, every
    # task to 0.95), and Mod-Cog's dlygo with its seq and int forms (128 units, mean accuracy 0.9)
    yang_go6) $bin config ;;
    modcog_dly)
      sed 's/^rules = .*/rules = ["dlygo", "dlygoseqr", "dlygointr"]/; s/^n_rec = .*/n_rec = 128/' configs/modcog82.toml ;;
    *) echo "unknown battery $1" >&2; exit 1 ;;
  esac
}
# the config on stdin with its recurrent mask set to $1
with_mask() {
  local text
  text=$(cat)
  if grep -q '^\[model.mask\]' <<< "$text"; then
    sed "s|^recurrent = .*|recurrent = $1|" <<< "$text"
  else
    printf '%s\n\n[model.mask]\nrecurrent = %s\n' "$text" "$1"
  fi
}
for battery in $batteries; do
  for arch in $archs; do
    dir="$out/$battery/$arch"
    cfg=$(mktemp --suffix=.toml)
    config "$battery" | with_mask "$(mask "$arch")" > "$cfg"
    if $smoke; then smoke_config "$cfg"; fi
    train_to "$dir" "$max_steps" "$seed" "$cfg" > /dev/null
    rm -f "$cfg"
    if [[ "$arch" == autapse ]]; then $bin analyze "$dir" --what pca --inits 16 > /dev/null; fi
  done
  echo "## $battery"
  value=min_perf; [[ "$battery" == modcog* ]] && value=mean_acc
  $bin runs-summary "$out/$battery" --value "$value" --level 0.9
done
if $smoke; then rm -rf "$out"; fi
exit
}
