#!/usr/bin/env bash
# The same jobs built from an earlier commit and from the working tree, on this machine:
#   - identity: the default job's model.npz arrays (the stored config text aside) and metrics.csv
#     (wall_s aside) for seeds 1 and 2, and the first ROUNDS rounds of `biornn longterm` and
#     `biornn reversal` (clock columns aside);
#   - speed: seconds for STEPS training iterations of the default network (evaluations only at the
#     start and the end), both builds interleaved, best of REPEATS, and their ratio.
#
#   bench/before_after.sh                 REV=2dc34e4 (the commit before the run layer), ROUNDS=50
#
# Identity holds across changes that leave the arithmetic alone. Softplus in f32 changed in the last
# bits when it became branch-free (numerics::real::ln_1p_unit_f32), so the default job (softplus)
# differs from any REV before that change; the long-term and reversal jobs (relu) do not.
#   bench/before_after.sh --smoke         tiny budgets, to check that the script runs
#   REV=<commit> bench/before_after.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${REV:-2dc34e4}
rounds=${ROUNDS:-50}
steps=${STEPS:-300}
repeats=${REPEATS:-5}
train_steps=${TRAIN_STEPS:-}
if [[ "${1:-}" == "--smoke" ]]; then rounds=2; steps=20; repeats=1; train_steps=20; fi
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cargo build --release -q
after=$PWD/target/release/biornn
git worktree add -q --detach "$work/src" "$rev"
(cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo build --release -q)
before=$work/target/release/biornn

jobs() { # BIN OUT
  local bin=$1 out=$2 extra=()
  mkdir -p "$out"
  if [[ -n "$train_steps" ]]; then extra=(--max-steps "$train_steps"); fi
  for s in 1 2; do "$bin" train --seed $s --runs "$out/runs" --name s$s --quiet "${extra[@]}" > /dev/null; done
  "$bin" longterm dlygo --method dasc-t40-s2-b0.5 --networks 4 --max-rounds "$rounds" --out "$out/lt" --quiet > /dev/null
  "$bin" reversal --method dasc-t40-s2-b0.5 --trial-skip --networks 2 --rounds "$rounds" --out "$out/rv" --quiet > /dev/null
}
jobs "$before" "$work/before"
jobs "$after" "$work/after"

python3 - "$work/before" "$work/after" "$rounds" <<'PY'
import os, sys, zipfile
before, after, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def arrays(p):
    z = zipfile.ZipFile(p)
    return {n[:-4]: z.read(n) for n in z.namelist() if n[:-4] not in ("config_toml", "checksum", "state_wall_s")}
def rows(d):
    for name in ("metrics.csv", "history.csv"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            r = [l.split(",") for l in open(p).read().splitlines()]
            keep = [i for i, h in enumerate(r[0]) if h not in ("train_s", "wall_s")]
            return [[row[i] for i in keep] for row in r[1:]]
    return []
ok = True
for s in (1, 2):
    a, b = arrays(f"{before}/runs/s{s}/model.npz"), arrays(f"{after}/runs/s{s}/model.npz")
    same = a == b
    print(f"default job seed {s}: model.npz {len(a)} arrays {'identical' if same else 'DIFFER'}", end="; ")
    m = rows(f"{before}/runs/s{s}") == rows(f"{after}/runs/s{s}")
    print(f"metrics.csv {'identical' if m else 'DIFFER'}")
    ok &= same and m
for d, what in (("lt", "longterm"), ("rv", "reversal")):
    x, y = rows(f"{before}/{d}"), rows(f"{after}/{d}")
    same = len(x) >= rounds and x[:rounds] == y[:rounds]
    print(f"{what}: first {rounds} rounds {'identical' if same else 'DIFFER'}")
    ok &= same
sys.exit(0 if ok else 1)
PY

# speed: the default network, evaluations only at the start and the end
cfg=$work/speed.toml
$after config | sed -e "s/^max_steps = .*/max_steps = $steps/" -e "s/^eval_every = .*/eval_every = $steps/" \
  -e '/^\[network\]/,/^$/d' -e '/^\[rule\]/,/^$/d' > "$cfg"
python3 - "$before" "$after" "$cfg" "$work/speed" "$repeats" "$steps" <<'PY'
import shutil, subprocess, sys, time
before, after, cfg, runs, repeats, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
best = {"before": float("inf"), "after": float("inf")}
for _ in range(repeats):
    for which, binary in (("before", before), ("after", after)):
        shutil.rmtree(runs, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([binary, "train", cfg, "--runs", runs, "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best[which] = min(best[which], time.perf_counter() - t0)
print(f"speed: {steps} iterations, best of {repeats}: before {best['before']:.3f} s, after {best['after']:.3f} s, after/before {best['after'] / best['before']:.3f}")
PY
