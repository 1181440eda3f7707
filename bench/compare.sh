#!/usr/bin/env bash
# biornn against PyTorch (eager) and JAX (jit, lax.scan) on the same machine, in one invocation:
# the machine's own f32 peak (a 2048^3 product on every core), per-iteration training time for the
# issue-3 shapes with each side's fraction of that peak, GFLOP/s against faer's matrix-product
# ceiling, peak memory, task generation, and networks trained per hour for K networks at once.
#
#   bench/compare.sh            full table (installs torch and jax into bench/.venv on first use, ~3 GB)
#   bench/compare.sh --smoke    tiny shapes, biornn only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/biornn
val() { sed -n "s/^$1=//p"; }

# seeds_per_hour K STEPS ACTIVATION: `biornn train --seeds K` on the default tasks (the six go/anti
# tasks, real batches and evaluations) at N = 50, B = 20; networks per hour, counting 1,000 updates
# as one network, and the seconds it took.
seeds_per_hour() {
  local k=$1 steps=$2 act=$3 cfg runs t0 t1
  cfg=$(mktemp --suffix .toml); runs=$(mktemp -d)
  $bin config | sed -e 's/^n_rec = .*/n_rec = 50/' -e 's/^batch_size = .*/batch_size = 20/' \
    -e "s/^activation = \"[a-z]*\"/activation = \"$act\"/" > "$cfg"
  t0=$(date +%s.%N)
  $bin train "$cfg" --seeds "$k" --max-steps "$steps" --runs "$runs" --quiet > /dev/null
  t1=$(date +%s.%N)
  python3 -c "s = $t1 - $t0; print(f'{$k * $steps / 1000 / (s / 3600):.0f} networks per hour ({s:.1f} s)')"
  rm -rf "$cfg" "$runs"
}

if [[ "${1:-}" == "--smoke" ]]; then
  $bin bench train --n 16 --batch 4 --steps 10 --iters 2 --ceiling
  $bin bench eval --n 16 --batch 4 --steps 10 --iters 2
  $bin bench tasks --iters 5
  $bin bench seeds --k 2 --n 8 --batch 2 --steps 5 --iters 2
  $bin bench peak --size 256 --reps 2
  $bin bench products --n 8 --batch 3 --reps 20
  seeds_per_hour 2 2 softplus
  exit 0
fi

venv=bench/.venv
if ! "$venv/bin/python" -c "import torch, numpy, jax" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.5.1 numpy "jax[cpu]"
fi
py="$venv/bin/python"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $("$py" -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads())'); jax $("$py" -c 'import jax; print(jax.__version__)')"
peak=$($bin bench peak | val peak_gflops)
echo "peak: $peak GFLOP/s (f32, a 2048^3 product with faer on every core: biornn bench peak)"
echo
printf "%-14s %10s %10s %10s %8s %8s %9s %22s\n" "N/B/T" "biornn ms" "jax ms" "torch ms" "/jax" "/torch" "target" "% of peak: ours jax torch"
rows=("64 16 100 30 0.10" "50 20 600 10 0.10" "256 64 100 20 0.33" "256 64 600 5 0.33" "512 256 100 5 1.00")
for row in "${rows[@]}"; do
  read -r n b t iters target <<<"$row"
  out=$($bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters")
  ours=$(echo "$out" | val ms_per_iter); gflops=$(echo "$out" | val gflops)
  jax=$("$py" bench/jax/ctrnn_bench.py --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter)
  theirs=$("$py" bench/pytorch/ctrnn_bench.py --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter)
  # every side does the same products: the fraction of peak scales with 1 / time
  read -r rj rt fo fj ft <<<"$(python3 -c "g=$gflops*$ours; print(f'{$ours/$jax:.3f} {$ours/$theirs:.3f} {100*$gflops/$peak:.1f} {100*g/$jax/$peak:.1f} {100*g/$theirs/$peak:.1f}')")"
  printf "%-14s %10.2f %10.2f %10.2f %8s %8s %9s %10s %5s %5s\n" "$n/$b/$t" "$ours" "$jax" "$theirs" "$rj" "$rt" "<= $target" "$fo" "$fj" "$ft"
done

echo
echo "GFLOP/s of the training iteration (matrix products only) against faer on the same shapes:"
for row in "256 64 100 20" "256 64 600 5"; do
  read -r n b t iters <<<"$row"
  out=$($bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters" --ceiling)
  echo "  $n/$b/$t: biornn $(echo "$out" | val gflops) GFLOP/s, faer $(echo "$out" | val faer_gflops) GFLOP/s, fraction $(echo "$out" | val fraction_of_faer)"
done

echo
echo "One step's recurrent products, forward and backward (us; packed panels on each instruction set against faer):"
for row in "50 20" "64 16" "128 32" "256 64"; do
  read -r n b <<<"$row"
  out=$($bin bench products --n "$n" --batch "$b")
  echo "  $n/$b: faer $(echo "$out" | val faer_us), avx512 $(echo "$out" | val packed_avx512_us), avx2 $(echo "$out" | val packed_avx2_us); networks use $(echo "$out" | val networks_use)"
done
for row in "64 16 100 30" "50 20 600 10"; do
  read -r n b t iters <<<"$row"
  echo "  training iteration $n/$b/$t: $($bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter) ms packed," \
    "$(BIORNN_ISA=faer $bin bench train --n "$n" --batch "$b" --steps "$t" --iters "$iters" | val ms_per_iter) ms with faer's products"
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
echo "With real batches (biornn train --seeds 20: the six go/anti tasks, N=50, B=20, 300 updates each):"
for act in softplus relu; do
  echo "  $act: $(seeds_per_hour 20 300 "$act")"
done
