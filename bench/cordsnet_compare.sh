#!/usr/bin/env bash
# CordsNet against PyTorch's CPU convolutions on the same machine, in one invocation: one Euler step
# of a batch of static images (the stem computed beforehand) and one training step (stimulus steps
# from a spontaneous state, random biases on both sides, cross-entropy over the last half,
# backward), for the small model (R2 at 28 x 28, 32
# channels, 16 images, 10 stimulus steps) and the published shape (R8 at 224 x 224 RGB, 64 to 512
# channels, 1 image; 4 stimulus steps, fewer than the network is deep, and 10). The PyTorch side
# (bench/pytorch/cordsnet_bench.py) builds the same network with plain convs.
#
#   bench/cordsnet_compare.sh           the table (installs torch into bench/.venv on first use), then
#                                       each convolution alone along both paths and in PyTorch
#   ROUNDS=9 bench/cordsnet_compare.sh  more alternating runs per cell (default 5)
#   bench/cordsnet_compare.sh --smoke   a tiny shape, biornn only (CI)
# Then the memory of BPTT through 100 stimulus steps, every state kept or every 10th.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
cargo build --release -q -p biornn-vision --example conv_shapes
bin=target/release/biornn
shapes=target/release/examples/conv_shapes
val() { sed -n "s/^$1=//p"; }
if [[ "${1:-}" == "--smoke" ]]; then
  $bin bench cordsnet --depth 4 --image 16 --channels 1 --width 4 --batch 2 --stimulus 3 --iters 2 --arnoldi 5
  $shapes --smoke
  exit 0
fi
venv=bench/.venv
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.5.1 numpy
fi
py="$venv/bin/python"
threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads cores; torch threads $threads"
# Single timings on a shared machine swing by up to 1.5x: ROUNDS runs of each side (default 5),
# alternating, and each cell the median.
rounds=${ROUNDS:-5}
rows=("2 28 1 32 16 10 5" "8 224 3 64 1 4 3" "8 224 3 64 1 10 3")
times=$(mktemp)
for ((round = 0; round < rounds; round++)); do
  for row in "${rows[@]}"; do
    read -r depth image channels width batch stimulus iters <<<"$row"
    args=(--depth "$depth" --image "$image" --channels "$channels" --width "$width" --batch "$batch" --stimulus "$stimulus" --iters "$iters")
    label="R$depth ${image}px w$width b$batch s$stimulus"
    ours=$($bin bench cordsnet "${args[@]}")
    theirs=$(OMP_NUM_THREADS=$threads "$py" bench/pytorch/cordsnet_bench.py "${args[@]}")
    for what in step train_step; do
      echo "$label: $what|$(echo "$ours" | val "ms_per_$what")|$(echo "$theirs" | val "ms_per_$what")" >> "$times"
    done
  done
done
python3 - "$times" "$rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, a, b = line.strip().split("|")
    rows.setdefault(label, []).append((float(a), float(b)))
print(f"medians of {sys.argv[2]} alternating runs")
print(f"{'shape':<40} {'biornn ms':>10} {'torch ms':>10} {'ratio':>6}")
for label, v in rows.items():
    a, b = statistics.median(x for x, _ in v), statistics.median(y for _, y in v)
    print(f"{label:<40} {a:>10.2f} {b:>10.2f} {a / b:>6.2f}")
PY
rm -f "$times"
echo
# BPTT keeps each step's state and pre-activations; keeping every 10th and recomputing each
# segment on the way back bounds the memory (the same gradient to the last bit)
echo "memory of one training step through 100 stimulus steps (peak RSS of the process, MiB; ms)"
echo "shape                                     every state      every 10th"
for row in "2 28 1 32 16" "8 224 3 64 1"; do
  read -r depth image channels width batch <<<"$row"
  cells=()
  for seg in 0 10; do
    out=$($bin bench cordsnet --depth "$depth" --image "$image" --channels "$channels" --width "$width" \
      --batch "$batch" --stimulus 100 --segment "$seg" --iters 1)
    cells+=("$(echo "$out" | val peak_rss_mib) ($(echo "$out" | val ms_per_train_step | cut -d. -f1) ms)")
  done
  printf '%-41s %-16s %s\n' "R$depth ${image}px w$width b$batch" "${cells[0]}" "${cells[1]}"
done
echo
echo "one convolution at a time (ms, best of seven; the path biornn takes for the shape is marked)"
$shapes
OMP_NUM_THREADS=$threads "$py" bench/pytorch/conv_shapes.py | tail -n +2
