# Shared by the experiment scripts (sourced; not a script of its own, so CI does not run it): run one training run to a budget, whatever state
# it was left in.

# train_to DIR MAX_STEPS SEED CONFIG: the run in DIR trained to MAX_STEPS updates (`biornn train
# --out DIR`): a new run starts from the config file CONFIG; a killed one resumes from its newest
# checkpoint; a finished one short of MAX_STEPS (and of its criterion) continues to it, bit for
# bit the run trained to it at once when its old budget was a multiple of its evaluation
# interval; a run of other settings in DIR is refused, naming them. Results kept without weights
# (experiments/carry.sh --results) stand as they are.
# Needs $bin (the biornn binary).
train_to() {
  local dir=$1 max_steps=$2 seed=$3 config=$4
  restore_carried "$dir"
  if [[ -f "$dir/summary.json" && ! -d "$dir/checkpoints" ]]; then
    local done_steps
    done_steps=$(sed -n 's/^ *"steps": *\([0-9]*\).*/\1/p' "$dir/summary.json" | head -1)
    if grep -q '"reached_target": false' "$dir/summary.json" && (( done_steps < max_steps )); then
      # nothing to go on from; said without ending the sweep around it
      echo "have $dir ($done_steps updates, kept as results only: it cannot go on to $max_steps)" >&2
    else
      echo "have $dir ($done_steps updates)"
    fi
    return
  fi
  $bin train "$config" --seed "$seed" --max-steps "$max_steps" --name "$(basename "$dir")" \
    --out "$dir" --quiet
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

# smoke_front_end DIR DATA UPDATES: a tiny CordsNet (4 to 32 channels, a short protocol) trained
# for UPDATES updates on 64 images of the IDX directory DATA, in DIR: the front end the vision
# experiments' smoke runs start from. Needs $bin.
smoke_front_end() {
  local dir=$1 data=$2 updates=$3 cfg
  cfg=$(mktemp --suffix=.toml)
  $bin config --kind cordsnet | sed "s|^path = .*|path = \"$data\"|; s/^train_images = .*/train_images = 64/; s/^test_images = .*/test_images = 16/" \
    | sed 's/^widths = .*/widths = [4, 8, 16, 32]/; s/^spontaneous_steps = .*/spontaneous_steps = 10/; s/^stimulus_steps = .*/stimulus_steps = 10/; s/^loss_steps = .*/loss_steps = 4/; s/^offset_steps = .*/offset_steps = 4/; s/^penalty_steps = .*/penalty_steps = 2/' \
    | sed "s/^max_steps = .*/max_steps = $updates/; s/^eval_every = .*/eval_every = $updates/" > "$cfg"
  train_to "$dir" "$updates" 1 "$cfg" > /dev/null
  rm -f "$cfg"
}
