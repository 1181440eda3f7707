"""One convolution at a time in PyTorch, at the shapes of crates/biornn-vision/examples/conv_shapes.rs:
milliseconds (best of seven) of the forward pass, the input gradient and the weight gradient."""
import sys
import time

import torch

SHAPES = [  # c_in, c_out, k, stride, pad, image side, images
    (64, 64, 3, 1, 1, 56, 1),
    (128, 128, 3, 1, 1, 28, 1),
    (256, 256, 3, 1, 1, 14, 1),
    (512, 512, 3, 1, 1, 7, 1),
    (64, 128, 3, 2, 1, 56, 1),
    (32, 32, 3, 1, 1, 14, 16),
    (32, 32, 3, 1, 1, 7, 16),
]


def best_of(reps, f):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t) * 1e3)
    return best


def main():
    torch.manual_seed(0)
    print("convolution,path,forward_ms,input_grad_ms,weight_grad_ms,forward_gflops")
    for ci, co, k, s, p, side, n in SHAPES:
        x = torch.randn(n, ci, side, side, requires_grad=True)
        w = torch.randn(co, ci, k, k, requires_grad=True)
        conv = lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=p)
        fwd = best_of(7, conv)
        y = conv()
        g = y.detach().clone()
        din = best_of(7, lambda: torch.autograd.grad(y, x, g, retain_graph=True))
        dwt = best_of(7, lambda: torch.autograd.grad(y, w, g, retain_graph=True))
        ho = (side + 2 * p - k) // s + 1
        gflops = 2.0 * co * ci * k * k * ho * ho * n * 1e-6 / fwd
        print(f"{ci}->{co} k{k} s{s} {side}x{side} n{n},torch,{fwd:.3f},{din:.3f},{dwt:.3f},{gflops:.0f}")


if __name__ == "__main__":
    sys.exit(main())
