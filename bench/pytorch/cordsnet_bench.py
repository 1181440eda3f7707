"""PyTorch's time for what `biornn bench cordsnet` times: one synchronous Euler step of CordsNet
(the architecture of wmws2/cordsnet, plain convs: the weights folded, as biornn runs them) on a
batch of static images with the stem computed beforehand, and one training step (the stimulus
steps from the spontaneous state, cross-entropy over the last half, backward). Random biases
(N(0, 0.1^2)) make every area active at rest; the spontaneous state is `depth` steps from rest
without an image, and steps are timed from it. Prints ms_per_step= and ms_per_train_step=
(medians).

    python cordsnet_bench.py --depth 8 --image 224 --channels 3 --width 64 --batch 1
"""

import argparse
import time

import torch
from torch import nn


def build(depth, channels, width, classes=10):
    w = lambda l: width * 2 ** (l // 2)
    m = nn.Module()
    m.inp_conv = nn.Conv2d(channels, w(0), 7, 2, 3, bias=False)
    m.pool = nn.AvgPool2d(3, 2, 1)
    m.inp_skip = nn.Conv2d(w(0), w(0), 3, 1, 1, bias=False)
    m.area_conv = nn.ModuleList(nn.Conv2d(w(l), w(l), 3, 1, 1, bias=False) for l in range(depth))
    m.area_area = nn.ModuleList(
        nn.Conv2d(w(max(l - 1, 0)), w(l), 3, 2 if l >= 2 and l % 2 == 0 else 1, 1, bias=False)
        for l in range(depth)
    )
    m.skip_area = nn.ModuleList(nn.Conv2d(w(l - 2), w(l), 1, 2, bias=False) for l in range(3, depth, 2))
    m.out_fc = nn.Linear(w(depth - 1), classes)
    return m


def main():
    ap = argparse.ArgumentParser()
    for k, v in [("depth", 8), ("image", 224), ("channels", 3), ("width", 64), ("batch", 1), ("stimulus", 10), ("iters", 5)]:
        ap.add_argument(f"--{k}", type=int, default=v)
    a = ap.parse_args()
    torch.manual_seed(0)
    m = build(a.depth, a.channels, a.width)
    x = torch.randn(a.batch, a.channels, a.image, a.image)
    with torch.no_grad():
        s = m.pool(m.inp_conv(x))
        shapes, h = [], s
        for l in range(a.depth):
            h = m.area_area[l](h)
            shapes.append(h.shape[1:])
    biases = [0.1 * torch.randn(*sh) for sh in shapes]
    relu = torch.relu

    def step(r, s, ks):
        new = []
        for l in range(a.depth):
            if l == 0:
                h = s
            elif l == 1:
                h = relu(r[0]) + ks
            elif l % 2 == 0:
                h = relu(r[l - 1]) + relu(r[l - 2])
            else:
                h = relu(r[l - 1]) + m.skip_area[(l - 3) // 2](relu(r[l - 2]))
            z = m.area_conv[l](r[l]) + biases[l] + m.area_area[l](h)
            new.append(0.8 * r[l] + 0.2 * relu(z))
        return new

    with torch.no_grad():
        ks = m.inp_skip(s)
        # the spontaneous state: depth steps from rest without an image
        rest = [torch.zeros(1, *sh) for sh in shapes]
        blank, blank_k = torch.zeros_like(s[:1]), torch.zeros_like(ks[:1])
        for _ in range(a.depth):
            rest = step(rest, blank, blank_k)
        spont = [v.expand(a.batch, *v.shape[1:]).clone() for v in rest]
        r = [v.clone() for v in spont]
        times = []
        for i in range(a.iters + 1):
            t0 = time.perf_counter()
            r = step(r, s, ks)
            if i:
                times.append(1e3 * (time.perf_counter() - t0))
    times.sort()
    print(f"ms_per_step={times[len(times) // 2]:.3f}")
    labels = torch.arange(a.batch) % 10
    train = []
    for i in range(min(a.iters, 5) + 1):
        t0 = time.perf_counter()
        m.zero_grad()
        s = m.pool(m.inp_conv(x))
        ks = m.inp_skip(s)
        r = [v.clone() for v in spont]
        loss = 0.0
        for t in range(a.stimulus):
            r = step(r, s, ks)
            if t >= a.stimulus - (a.stimulus + 1) // 2:
                top = relu(r[-1]) + relu(r[-2])
                loss = loss + nn.functional.cross_entropy(m.out_fc(top.mean(dim=(2, 3))), labels)
        loss.backward()
        if i:
            train.append(1e3 * (time.perf_counter() - t0))
    train.sort()
    print(f"ms_per_train_step={train[len(train) // 2]:.3f}")


if __name__ == "__main__":
    main()
