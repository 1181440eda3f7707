# Shared by the experiment scripts (sourced; not a script of its own, so CI does not run it): run one training run to a budget, whatever state
# it was left in.

# train_to DIR MAX_STEPS SEED CONFIG: the run in DIR trained to MAX_STEPS updates. A new run starts
# from the config file CONFIG; a killed one resumes from its newest checkpoint; a finished one short
# of MAX_STEPS (and of its criterion) continues to it: bit for bit the run trained to it at once
# when its old budget was a multiple of its evaluation interval.
# Needs $bin (the biornn binary).
train_to() {
  local dir=$1 max_steps=$2 seed=$3 config=$4
  restore_carried "$dir"
  if [[ -f "$dir/summary.json" ]]; then
    local done_steps
    done_steps=$(sed -n 's/^ *"steps": *\([0-9]*\).*/\1/p' "$dir/summary.json" | head -1)
    if grep -q '"reached_target": false' "$dir/summary.json" && (( done_steps < max_steps )); then
      if [[ -d "$dir/checkpoints" ]]; then
        $bin train --resume "$dir" --max-steps "$max_steps" --quiet
      else
        # carried as results only (experiments/carry.sh --results): nothing to go on from
        echo "have $dir ($done_steps updates, kept as results only: it cannot go on to $max_steps)" >&2
      fi
    else
      echo "have $dir ($done_steps updates)"
    fi
  elif [[ -f "$dir/config.toml" ]]; then
    $bin train --resume "$dir" --quiet
  else
    $bin train "$config" --seed "$seed" --max-steps "$max_steps" \
      --runs "$(dirname "$dir")" --name "$(basename "$dir")" --quiet
  fi
}

# protocol_to DIR ROUNDS: a long-term or rule-reversal run (`biornn longterm`, `biornn reversal`) in
# DIR taken to ROUNDS rounds. A killed one resumes from its newest checkpoint; a finished one short of
# ROUNDS (and of its criterion: a long-term run that met it is done) continues to it, so a larger
# budget, or a run an earlier `--resume --max-steps` stopped short, goes on rather than being
# reported as done. Status 1 when DIR holds no run yet (the caller starts it); a failed resume
# ends the script.
# Needs $bin (the biornn binary).
protocol_to() {
  local dir=$1 rounds=$2 done_rounds
  restore_carried "$dir"
  if [[ -f "$dir/summary.json" ]]; then
    done_rounds=$(sed -n 's/^ *"rounds": *\([0-9]*\).*/\1/p' "$dir/summary.json" | head -1)
    if grep -q '"reached": true' "$dir/summary.json" || (( done_rounds >= rounds )); then
      echo "have $dir ($done_rounds rounds)"
    elif [[ -d "$dir/checkpoints" ]]; then
      $bin train --resume "$dir" --max-steps "$rounds" --quiet || exit
    else
      echo "have $dir ($done_rounds rounds, kept as results only: it cannot go on to $rounds)" >&2
    fi
  elif [[ -f "$dir/config.toml" ]]; then
    $bin train --resume "$dir" --quiet || exit
  else
    return 1
  fi
}

# smoke_config FILE: shrink a config's evaluations for a smoke run.
smoke_config() {
  sed -i 's/^eval_trials = .*/eval_trials = 4/; s/^eval_every = .*/eval_every = 2/' "$1"
}

# restore_carried DIR: a run that an earlier session carried over in git (experiments/carried/, see
# experiments/carry.sh) is copied back to DIR, when DIR holds no run yet, so that it resumes there.
restore_carried() {
  local dir=$1 kept rel
  rel=${dir#./}
  kept="experiments/carried/${rel#runs/}"
  if [[ ! -f "$dir/config.toml" && -f "$kept/config.toml" ]]; then
    mkdir -p "$dir"
    cp -r "$kept/." "$dir/"
    echo "restored $dir from $kept"
  fi
}
