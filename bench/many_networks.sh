#!/usr/bin/env bash
# Issue 18's two many-network targets, measured before and after on one machine in one invocation:
# an earlier commit of biornn (default 7e5f011, the tree the issue was filed against) is built in
# a worktree under target/, and its binary and this tree's take turns on
#   - `biornn train CONFIG --seeds 20` on the default tasks (the six go/anti tasks, real batches and
#     evaluations) at N = 50, B = 20: networks per hour, counting 1,000 updates as one network;
#   - `biornn longterm dlygo --networks 20`: seconds per round of 10 updates (each round also
#     evaluates every network, as the protocol does).
# Each cell is the median of ROUNDS alternating runs (default 3). `bench/before_after.sh` checks
# that a change kept results identical and times one network; this times many at once.
#
#   bench/many_networks.sh                full (UPDATES=300 updates per network, LT_ROUNDS=6 long-term
#                                         rounds; UPDATES=1000 runs each network for the 1,000 updates
#                                         that count as one)
#   REV=<commit> bench/many_networks.sh   against another commit (its build is kept under target/)
#   bench/many_networks.sh --smoke        tiny sizes, this tree against itself (the script's plumbing)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
after=target/release/biornn

smoke=false rev=${REV:-7e5f011}
if [[ "${1:-}" == "--smoke" ]]; then smoke=true; fi
rounds=${ROUNDS:-3}
if $smoke; then
  before=$after rev="this tree" rounds=1 seeds=2 updates=2 networks=2 lt_rounds=1
else
  seeds=20 updates=${UPDATES:-300} networks=20 lt_rounds=${LT_ROUNDS:-6}
  full=$(git rev-parse "$rev^{commit}")
  tree=target/before/$full
  if [[ ! -x "$tree-target/release/biornn" ]]; then
    [[ -d "$tree" ]] || git worktree add --detach -f "$tree" "$full" > /dev/null
    (cd "$tree" && CARGO_TARGET_DIR="$PWD-target" cargo build --release -q -p biornn-cli)
  fi
  before=$tree-target/release/biornn
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each binary writes its own default config (an older one rejects keys added since), N = 50, B = 20.
for side in before after; do
  ${!side} config | sed -e 's/^n_rec = .*/n_rec = 50/' -e 's/^batch_size = .*/batch_size = 20/' \
    > "$work/$side.toml"
done

# seconds BIN ARGS...: wall-clock seconds of one quiet command, its files in a fresh directory.
seconds() {
  local bin=$1 t0 t1
  shift
  rm -rf "$work/out"
  t0=$(date +%s.%N)
  "$bin" "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}

: > "$work/times"
for ((i = 0; i < rounds; i++)); do
  for side in before after; do
    bin=${!side}
    s=$(seconds "$bin" train "$work/$side.toml" --seeds "$seeds" --max-steps "$updates" \
      --runs "$work/out" --quiet)
    echo "$side seeds $s" >> "$work/times"
    s=$(seconds "$bin" longterm dlygo --networks "$networks" --max-rounds "$lt_rounds" \
      --out "$work/out" --quiet)
    echo "$side longterm $s" >> "$work/times"
  done
done

# What the long-term round's arithmetic allows: its kernels timed alone (this tree's binary; both
# binaries do the same arithmetic), and the machine's peak.
if $smoke; then floor_reps=1 peak_size=256; else floor_reps=11 peak_size=2048; fi
"$after" bench longterm dlygo --networks "$networks" --reps "$floor_reps" > "$work/floor"
"$after" bench peak --size "$peak_size" > "$work/peak"

python3 - "$work/times" "$seeds" "$updates" "$lt_rounds" "$rev" "$networks" "$work/floor" "$work/peak" <<'EOF'
import statistics, sys
path, seeds, updates, lt_rounds, rev, networks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
def keys(p):
    return {k: float(v) for k, v in (l.strip().split("=", 1) for l in open(p) if "=" in l)}
floor, peak = keys(sys.argv[7]), keys(sys.argv[8])["peak_gflops"]
times = {}
for line in open(path):
    side, what, s = line.split()
    times.setdefault((side, what), []).append(float(s))
med = {k: statistics.median(v) for k, v in times.items()}
per_hour = {side: seeds * updates / 1000 / (med[(side, "seeds")] / 3600) for side in ("before", "after")}
per_round = {side: med[(side, "longterm")] / lt_rounds for side in ("before", "after")}
n = len(times[("after", "seeds")])
print(f"before = {rev}, after = this tree; medians of {n} alternating runs")
print("| | before | after | after / before |")
print("|---|---|---|---|")
print(f"| train --seeds {seeds} (N = 50, B = 20, {updates} updates): networks per hour | "
      f"{per_hour['before']:.0f} | {per_hour['after']:.0f} | {per_hour['after'] / per_hour['before']:.2f}x |")
print(f"| longterm dlygo --networks {networks}: s per round of 10 updates | "
      f"{per_round['before']:.2f} | {per_round['after']:.2f} | {per_round['before'] / per_round['after']:.2f}x faster |")
gflop, floor_s = floor["round_gflop"], floor["floor_s_per_round"]
kernels = {k: floor[k] / floor["threads"] for k in
           ("per_step_products_thread_s", "whole_pass_products_thread_s", "normals_thread_s")}
print()
print(f"A long-term round (dlygo, {networks} networks) does {gflop:.1f} GFLOP of matrix products; "
      f"the machine's peak is {peak:.1f} GFLOP/s ({floor['threads']:.0f} threads).")
for side in ("before", "after"):
    print(f"  {side}: {per_round[side]:.3f} s per round, {gflop / per_round[side]:.1f} GFLOP/s, "
          f"{100 * gflop / per_round[side] / peak:.1f}% of peak")
target = per_round["before"] / 3
print(f"  its kernels alone, each timed on one thread and spread over {floor['threads']:.0f} without loss: "
      f"{floor_s:.3f} s per round (per-step products {kernels['per_step_products_thread_s']:.3f}, "
      f"whole-pass products {kernels['whole_pass_products_thread_s']:.3f}, normal deviates "
      f"{kernels['normals_thread_s']:.3f}): {gflop / floor_s:.1f} GFLOP/s, "
      f"{100 * gflop / floor_s / peak:.1f}% of peak")
print(f"  3x faster than before is {target:.3f} s per round ({100 * gflop / target / peak:.1f}% of peak): "
      f"{target - floor_s:.3f} s beside those kernels for everything else (elementwise passes, loss, "
      f"Adam, copies, scoring, the kernels' own losses inside a real round), where a round of this "
      f"tree takes {per_round['after'] - floor_s:.3f} s more than the kernels alone")
print(f"longterm_floor_s={floor_s:.4f}")
print(f"longterm_target_s={target:.4f}")
print(f"seeds_ratio={per_hour['after'] / per_hour['before']:.3f}")
print(f"longterm_ratio={per_round['before'] / per_round['after']:.3f}")
EOF
