"""Gradients of the benchmarked network by PyTorch autograd, for biornn's cross-check test.

    python grad_check.py IN.npz OUT.npz
IN holds W_in, W_rec, b_rec, W_out, b_out (float32, (post, pre)), x, y, mask ([T, B, .]) and alpha;
OUT gets loss and the gradient of each weight under the same name with a `d` prefix.
"""
import sys

import numpy as np
import torch

d = np.load(sys.argv[1])
p = {k: torch.tensor(d[k], requires_grad=True) for k in ["W_in", "W_rec", "b_rec", "W_out", "b_out"]}
x, y, c = (torch.tensor(d[k]) for k in ["x", "y", "mask"])
alpha = float(d["alpha"])
r = torch.zeros(x.shape[1], p["W_rec"].shape[0])
rates = []
for t in range(x.shape[0]):
    r = (1 - alpha) * r + alpha * torch.relu(x[t] @ p["W_in"].T + r @ p["W_rec"].T + p["b_rec"])
    rates.append(r)
out = torch.sigmoid(torch.stack(rates) @ p["W_out"].T + p["b_out"])
loss = torch.mean(((out - y) * c) ** 2)
loss.backward()
np.savez(sys.argv[2], loss=loss.detach().numpy(), **{"d" + k: v.grad.numpy() for k, v in p.items()})
