#!/usr/bin/env bash
# R2N2's exactness and memory against sequence length (Cheng and Brown 2025; the reference notes'
# sections 1.3, 2.4 and 3.5): reversal error in f32 and f64 for T = 60 to 2,000, peak heap memory
# of one replay gradient against BPTT with stored states, and the cosine between the published
# (code_parity) and the exact gradient at T = 8 and 40 over 10 seeds. Tables on stdout.
#
#   experiments/r2n2_exactness.sh           the full tables (seconds)
#   experiments/r2n2_exactness.sh --smoke   two lengths, one seed (CI)
{ # bash reads this block whole before running it: editing the file during a long run cannot derail it
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p biornn-r2n2 --example exactness -- "$@"
exit
}
