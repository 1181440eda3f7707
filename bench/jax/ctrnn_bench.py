"""JAX reference for `biornn bench`: the computation bench/pytorch/ctrnn_bench.py times, written the
way a JAX user writes it: the whole training iteration (forward by `lax.scan`, the loss, its
gradient by `jax.grad`, an Adam step) under one `jax.jit`, on XLA's CPU backend.

    r_t = (1 - a) r_{t-1} + a relu(W_in u_t + W_rec r_{t-1} + b),  a = dt/tau = 0.2
    y = sigmoid(W_out r + b_out),  loss = mean(((y - target) * mask)^2),  Adam lr 1e-3

The batches are made with numpy beforehand and moved to the device, as the inputs are
pre-generated for the PyTorch side's timing too; compilation is excluded (the warm-up iterations).

    python ctrnn_bench.py --n 256 --batch 64 --steps 100 --iters 20
prints ms_per_iter=<median> and peak_rss_mib=<peak resident memory>.
"""
import argparse
import math
import resource
import time

import os
import sys

import numpy as np

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from trials import N_IN, N_OUT, make_batch  # noqa: E402  (bench/trials.py)
ALPHA, LR, B1, B2, EPS = 0.2, 1e-3, 0.9, 0.999, 1e-8


def init(n, key):
    k1, k2 = jax.random.split(key)
    a = math.sqrt(6 / (n + N_OUT))
    return {
        "w_in": jax.random.normal(k1, (n, N_IN), jnp.float32) / math.sqrt(N_IN),
        "w_rec": 0.5 * jnp.eye(n, dtype=jnp.float32),
        "b": jnp.zeros(n, jnp.float32),
        "w_out": jax.random.uniform(k2, (N_OUT, n), jnp.float32, -a, a),
        "b_out": jnp.zeros(N_OUT, jnp.float32),
    }


def loss_fn(p, x, y, c):
    drive = x @ p["w_in"].T + p["b"]  # [T, B, N], one product for all steps

    def step(r, d):
        r = (1 - ALPHA) * r + ALPHA * jax.nn.relu(d + r @ p["w_rec"].T)
        return r, r

    r0 = jnp.zeros((x.shape[1], p["w_rec"].shape[0]), jnp.float32)
    _, h = jax.lax.scan(step, r0, drive)
    out = jax.nn.sigmoid(h @ p["w_out"].T + p["b_out"])
    return jnp.mean(((out - y) * c) ** 2)


@jax.jit
def train_step(p, m, v, t, x, y, c):
    loss, g = jax.value_and_grad(loss_fn)(p, x, y, c)
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
    scale = LR * jnp.sqrt(1 - B2**t) / (1 - B1**t)
    p = jax.tree_util.tree_map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + EPS), p, m, v)
    return p, m, v, t, loss


@jax.jit
def eval_step(p, x, y, c):
    return loss_fn(p, x, y, c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--mode", choices=["train", "eval"], default="train")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    p = init(a.n, jax.random.PRNGKey(0))
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    t = jnp.zeros((), jnp.float32)
    batches = [tuple(map(jnp.asarray, make_batch(a.steps, a.batch, rng))) for _ in range(a.warmup + a.iters)]
    times = []
    for i, (x, y, c) in enumerate(batches):
        t0 = time.perf_counter()
        if a.mode == "train":
            p, m, v, t, loss = train_step(p, m, v, t, x, y, c)
        else:
            loss = eval_step(p, x, y, c)
        loss.block_until_ready()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(f"ms_per_iter={float(np.median(times)):.4f}")
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"devices={jax.devices()}")


if __name__ == "__main__":
    main()
