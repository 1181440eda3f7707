#!/usr/bin/env bash
# biornn against PyTorch on the same machine, in one invocation: per-iteration training time for the
# issue-3 shapes, the ratio per row, GFLOP/s against faer's matrix-product ceiling, peak memory,
# task generation, and networks trained per hour for K networks at once.
#
#   bench/compare.sh            full table (installs torch into bench/.venv on first use, ~3 GB)
#   bench/compare.sh --smoke    tiny shapes, biornn only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/biornn
val() { sed -n "s/^$1=//p"; }

if [[ "${1:-}" == "--smoke" ]]; then
  $bin bench train --n 16 --batch 4 --steps 10 --iters 2 --ceiling
  $bin bench eval --n 16 --batch 4 --steps 10 --iters 2
  $bin bench tasks --iters 5
  $bin bench seeds --k 2 --n 8 --batch 2 --steps 5 --iters 2
  exit 0
fi

venv=bench/.venv
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.5.1 numpy
fi
py="$venv/bin/python"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $("$py" -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads())')"
echo
printf "%-14s %12s %12s %8s %9s\n" "N/B/T" "biornn ms" "torch ms" "ratio" "target"
rows=("64 16 100 30 0.10" "50 20 600 10 0.10" "256 64 100 20 0.33" "256 64 600 5 0.33" "512 256 100 5 1.00")
for row in "${rows[@]}"; do
  read -r n b t iters target <<<"$row"
  ours=$($bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter)
  theirs=$("$py" bench/pytorch/ctrnn_bench.py --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter)
  ratio=$(python3 -c "print(f'{$ours/$theirs:.3f}')")
  printf "%-14s %12.2f %12.2f %8s %9s\n" "$n/$b/$t" "$ours" "$theirs" "$ratio" "<= $target"
done

echo
echo "GFLOP/s of the training iteration (matrix products only) against faer on the same shapes:"
for row in "256 64 100 20" "256 64 600 5"; do
  read -r n b t iters <<<"$row"
  out=$($bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters" --ceiling)
  echo "  $n/$b/$t: biornn $(echo "$out" | val gflops) GFLOP/s, faer $(echo "$out" | val faer_gflops) GFLOP/s, fraction $(echo "$out" | val fraction_of_faer)"
done

echo
echo "Peak memory of a training run at 256/64/600 (whole process):"
echo "  biornn $($bin bench train --n 256 --batch 64 --steps 600 --iters 2 --warmup 1 | val peak_rss_mib) MiB," \
  "torch $("$py" bench/pytorch/ctrnn_bench.py --n 256 --batch 64 --steps 600 --iters 2 --warmup 1 | val peak_rss_mib) MiB"

echo
echo "Task generation, 64 Yang trials: $($bin bench tasks | val us_per_batch) us with input noise," \
  "$($bin bench tasks --no-noise | val us_per_batch) us without"
echo
echo "Networks trained per hour (N=50, B=20, T=600, 1000 updates each):"
for k in 1 2 8 100; do
  iters=$(( k >= 100 ? 10 : 30 ))
  echo "  K=$k: $($bin bench seeds --k "$k" --n 50 --batch 20 --steps 600 --iters "$iters" | val networks_per_hour)"
done
