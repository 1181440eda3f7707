"""PyTorch reference for `biornn bench`: exactly the computation biornn times.

One training iteration = build a batch of fdgo-like trials of T steps (85 inputs, 33 outputs, the
gyyang cost mask), forward the rate-convention CTRNN with relu
    r_t = (1 - a) r_{t-1} + a relu(W_in u_t + W_rec r_{t-1} + b),  a = dt/tau = 0.2,
read out y = sigmoid(W_out r + b_out), take mean(((y - target) * mask)^2), backward by autograd, and
take one Adam step (lr 1e-3). Eager mode, torch's default threads, the way a user writes it: the
input projection for all steps as one product, then a Python loop over time.

    python ctrnn_bench.py --n 256 --batch 64 --steps 100 --iters 20 [--mode train|eval]
prints ms_per_iter=<median> and peak_rss_mib=<peak resident memory>.
"""
import argparse
import math
import resource
import time

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import trials  # noqa: E402  (bench/trials.py: the trials both references time)
from trials import N_IN, N_OUT  # noqa: E402


def make_batch(steps, batch, rng):
    """The shared benchmark trials (bench/trials.py) as torch tensors."""
    return tuple(torch.from_numpy(a) for a in trials.make_batch(steps, batch, rng))


class CTRNN(torch.nn.Module):
    def __init__(self, n, alpha=0.2):
        super().__init__()
        self.alpha = alpha
        self.w_in = torch.nn.Parameter(torch.randn(n, N_IN) / math.sqrt(N_IN))
        self.w_rec = torch.nn.Parameter(0.5 * torch.eye(n))
        self.b = torch.nn.Parameter(torch.zeros(n))
        a = math.sqrt(6 / (n + N_OUT))
        self.w_out = torch.nn.Parameter(torch.empty(N_OUT, n).uniform_(-a, a))
        self.b_out = torch.nn.Parameter(torch.zeros(N_OUT))

    def forward(self, x):
        steps, batch, _ = x.shape
        drive = x @ self.w_in.T + self.b  # [T, B, N], one product for all steps
        r = torch.zeros(batch, self.w_rec.shape[0])
        rates = []
        for t in range(steps):
            r = (1 - self.alpha) * r + self.alpha * torch.relu(drive[t] + r @ self.w_rec.T)
            rates.append(r)
        h = torch.stack(rates)
        return torch.sigmoid(h @ self.w_out.T + self.b_out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--mode", choices=["train", "eval"], default="train")
    a = p.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = CTRNN(a.n)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        x, y, c = make_batch(a.steps, a.batch, rng)
        if a.mode == "train":
            out = net(x)
            loss = torch.mean(((out - y) * c) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                out = net(x)
                loss = torch.mean(((out - y) * c) ** 2)
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(f"ms_per_iter={float(np.median(times)):.4f}")
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
