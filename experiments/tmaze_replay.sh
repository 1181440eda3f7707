#!/usr/bin/env bash
# The cue-guided delayed T-maze (Cheng and Brown 2025, CogControlLab/R2N2 exp2.py): R2N2 with
# feedback alignment (the reference's), the same with the two adaptive replay rules of exp7.py
# (replays per epoch = (1 - last epoch's success) N) and exp8.py (from the last epoch's loss),
# R2N2 with backpropagation, and RFLO, trained on the 2,880 optimal trajectories (91 to 104 steps)
# until 85% of the evaluation sequences have every action predicted (at most 288,000 sequences),
# then tested in closed loop (cue 22, delay 52, branch 24, 40 trials). Prints sequences and epochs
# to criterion, the closed-loop reward rate, and for the adaptive rules the replays per epoch
# against the training success (the paper's "replay adapts to performance"). RULES=alternation
# runs R2N2-FA on the delayed-alternation T-maze of our design (configs/r2n2_alternation.toml).
#
#   experiments/tmaze_replay.sh           SEEDS="1 2 3" RULES="r2n2_fa r2n2_fa_success r2n2_fa_loss r2n2_bp rflo"
#                                         EPOCHS=100
#   experiments/tmaze_replay.sh --smoke   one rule, 2 noisy copies, 40 sequences (CI)
# Runs resume where they stopped.
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${RULES:-"r2n2_fa r2n2_fa_success r2n2_fa_loss r2n2_bp rflo"}
seeds=${SEEDS:-"1 2 3"}
epochs=${EPOCHS:-100}
out=${OUT:-runs/tmaze_replay}
smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=true; rules="r2n2_fa"; seeds="1"; out=$(mktemp -d)
fi
cargo build --release -q
bin=${BIN:-./target/release/biornn}
source experiments/lib.bash
for rule in $rules; do
  for seed in $seeds; do
    cfg=$(mktemp --suffix=.toml)
    case "$rule" in
      r2n2_fa) cat configs/r2n2_tmaze.toml ;;
      r2n2_bp) sed 's/^feedback = .*/feedback = "bp"/' configs/r2n2_tmaze.toml ;;
      r2n2_fa_success) sed 's/^repeats = .*/repeats = 10\nreplay = "success"/' configs/r2n2_tmaze.toml ;;
      r2n2_fa_loss) sed 's/^repeats = .*/repeats = 10\nreplay = "loss"/' configs/r2n2_tmaze.toml ;;
      alternation) cat configs/r2n2_alternation.toml ;;
      rflo) sed 's/^kind = "anbn" .*/kind = "tmaze"/; s/^m = .*/repeats = 10/' configs/rflo_anbn.toml \
              | sed 's/^n_rec = .*/n_rec = 128/; s/^max_steps = .*/max_steps = 288000/; s/^eval_every = .*/eval_every = 2880/' \
              | sed 's/^# target_success = .*/target_success = 0.85/; s/^checkpoint_every = .*/checkpoint_every = 1/' ;;
      *) echo "unknown rule $rule" >&2; exit 1 ;;
    esac > "$cfg"
    if $smoke; then
      sed -i 's/^repeats = .*/repeats = 2/; s/^eval_every = .*/eval_every = 20/' "$cfg"
    fi
    # an epoch is every trajectory once: 2,880 in the cue-guided maze, 640 in the alternation one
    per_epoch=$([[ $rule == alternation ]] && echo 640 || echo 2880)
    steps=$(if $smoke; then echo 40; else echo $(( epochs * per_epoch )); fi)
    train_to "$out/$rule/seed-$seed" "$steps" "$seed" "$cfg" > /dev/null
    rm -f "$cfg"
  done
done
python3 - "$out" <<'PY'
import csv, glob, json, os, statistics, sys
root = sys.argv[1]
print("| rule | seeds | reached 85% | sequences to it (median) | epochs | closed-loop reward rate at the end (mean) |")
print("|---|---|---|---|---|---|")
for rule in sorted(os.listdir(root)):
    reached, seqs, epochs, reward = 0, [], [], []
    runs = sorted(glob.glob(f"{root}/{rule}/seed-*"))
    for r in runs:
        try:
            s = json.load(open(f"{r}/summary.json"))
        except OSError:
            continue
        rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
        if s.get("reached_target"):
            reached += 1
            seqs.append(s["steps"])
            if rows and rows[-1].get("epoch"):
                epochs.append(float(rows[-1]["epoch"]) + 1)
        if rows and rows[-1].get("reward_rate"):
            reward.append(float(rows[-1]["reward_rate"]))
    med = statistics.median(seqs) if seqs else float("nan")
    ep = statistics.median(epochs) if epochs else float("nan")
    rw = statistics.mean(reward) if reward else float("nan")
    print(f"| {rule} | {len(runs)} | {reached} | {med:.0f} | {ep:.0f} | {rw:.3f} |")
# replay against performance, the adaptive rules' first seed
for rule in ("r2n2_fa_success", "r2n2_fa_loss"):
    f = f"{root}/{rule}/seed-1/metrics.csv"
    if os.path.exists(f):
        print(f"\n{rule}, seed 1: | sequences | epoch | replays this epoch | training success |")
        for r in csv.DictReader(open(f)):
            print(f"| {r['step']} | {r.get('epoch', '')} | {r.get('replays_this_epoch', '')} | {r.get('train_success', '')} |")
# the figure: replays per epoch against the training success before it, every seed of the fixed
# and the two adaptive rules, as an SVG of our own (no plotting package needed)
colors = {"r2n2_fa": "#1f77b4", "r2n2_fa_success": "#2ca02c", "r2n2_fa_loss": "#d62728"}
names = {"r2n2_fa": "every sequence (exp2)", "r2n2_fa_success": "from success (exp7)",
         "r2n2_fa_loss": "from loss (exp8)"}
W, H, L, T, PW, PH = 560, 360, 70, 30, 420, 260
lines, top = [], 1.0
for rule in colors:
    for f in sorted(glob.glob(f"{root}/{rule}/seed-*/metrics.csv")):
        pts = [(float(r["train_success"]), float(r["replays_this_epoch"]))
               for r in csv.DictReader(open(f)) if r.get("train_success") and r.get("replays_this_epoch")]
        if pts:
            top = max(top, max(y for _, y in pts))
            lines.append((rule, pts))
if lines:
    sx = lambda x: L + PW * x
    sy = lambda y: T + PH * (1 - y / top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect x="{L}" y="{T}" width="{PW}" height="{PH}" fill="none" stroke="#888"/>',
           f'<text x="{L + PW / 2}" y="{T + PH + 40}" text-anchor="middle">training success since the last evaluation</text>',
           f'<text x="18" y="{T + PH / 2}" text-anchor="middle" transform="rotate(-90 18 {T + PH / 2})">sequences replayed in the epoch</text>']
    for k in range(6):
        x, y = k / 5, top * k / 5
        out.append(f'<text x="{sx(x)}" y="{T + PH + 16}" text-anchor="middle">{x:.1f}</text>')
        out.append(f'<text x="{L - 6}" y="{sy(y) + 4}" text-anchor="end">{y:.0f}</text>')
    for rule, pts in lines:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colors[rule]}" stroke-width="1.5"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colors[rule]}"/>')
    for k, rule in enumerate(colors):
        out.append(f'<text x="{L + 10}" y="{T + PH - 44 + 16 * k}" fill="{colors[rule]}">{names[rule]}</text>')
    out.append("</svg>")
    open(f"{root}/replay_against_performance.svg", "w").write("\n".join(out))
    print(f"\nfigure: {root}/replay_against_performance.svg")
PY
if $smoke; then rm -rf "$out"; fi
exit
}
