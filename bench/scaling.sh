#!/usr/bin/env bash
# How the cost of a training iteration grows with the number of units N, the batch B and the trial
# length T (biornn only): median ms per iteration, GFLOP/s, the fraction of the machine's measured
# peak (biornn bench peak), and ms per (B*T) sample-step.
#   bench/scaling.sh [--smoke]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/biornn
iters=10
[[ "${1:-}" == "--smoke" ]] && iters=1
size=2048
[[ "${1:-}" == "--smoke" ]] && size=256
peak=$($bin bench peak --size "$size" | sed -n 's/^peak_gflops=//p')
echo "peak: $peak GFLOP/s (f32, a ${size}^3 product with faer on every core)"
row() {
  out=$($bin bench train --n "$1" --batch "$2" --steps "$3" --iters "$iters" --warmup 1)
  ms=$(echo "$out" | sed -n 's/^ms_per_iter=//p')
  gf=$(echo "$out" | sed -n 's/^gflops=//p')
  printf "%6s %6s %6s %12s %10s %10s %16s\n" "$1" "$2" "$3" "$ms" "$gf" "$(python3 -c "print(f'{100*$gf/$peak:.1f}%')")" "$(python3 -c "print(f'{$ms*1e3/($2*$3):.3f}')")"
}
printf "%6s %6s %6s %12s %10s %10s %16s\n" N B T "ms/iter" "GFLOP/s" "of peak" "us/(B*T)"
for n in 32 64 128 256 512; do row "$n" 64 100; done
for b in 8 32 128 256; do row 256 "$b" 100; done
for t in 50 300 1000; do row 256 64 "$t"; done
