"""The benchmark trials both reference scripts time (bench/pytorch, bench/jax), as numpy arrays:
exactly what `biornn bench train` builds (crates/biornn-train/src/bench.rs)."""
import numpy as np

N_IN, N_OUT, N_RING = 85, 33, 32


def make_batch(steps, batch, rng):
    """fdgo-like trials of exactly `steps` steps: fixation, a bump on ring 1, go at 3/4 of the trial.
    Returns inputs, targets and the cost mask, each [T, B, dim] float32."""
    go = max(1, min(steps // 4, steps - 1))
    fix_off = steps - go
    pref = np.arange(N_RING) * 2 * np.pi / N_RING
    loc = rng.uniform(0, 2 * np.pi, batch)
    d = np.abs(loc[:, None] - pref[None, :])
    d = np.minimum(d, 2 * np.pi - d) / (np.pi / 8)
    bump = 0.8 * np.exp(-0.5 * d**2)  # [B, 32]
    x = np.zeros((steps, batch, N_IN), np.float32)
    x[:fix_off, :, 0] = 1
    x[go // 2:, :, 1:1 + N_RING] = bump[None]
    x[:, :, 65] = 1
    y = np.full((steps, batch, N_OUT), 0.05, np.float32)
    y[:fix_off, :, 0] = 0.8
    y[fix_off:, :, 1:] += bump[None]
    c = np.zeros((steps, batch, N_OUT), np.float32)
    c[5:fix_off] = 1
    c[fix_off + 5:] = 5
    c[:, :, 0] *= 2
    return x, y, c
