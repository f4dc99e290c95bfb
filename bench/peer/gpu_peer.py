#!/usr/bin/env python3
"""PyTorch (CUDA) peer of bench/gpu/gpu_bench.cpp, on the same GPU: the same two layers (OLMoE
64 x [1024, 2048], Mixtral 8 x [14336, 4096], BF16-representable values held as float32), the
same MPI step (R_hat = G^T (G r) per expert, retraction to C'/sqrt(N)), and principal directions
by the same block subspace iteration (8 vectors, Rayleigh-Ritz, QR) for the iteration count
RouterScope needed (--products, from gpu_bench's `products` counter), plus torch.svd_lowrank for
reference. Times with CUDA events: warm-up, then the median of --runs. float32 matmuls without
TF32 (as RouterScope), and --bf16 for BF16 operands."""
import argparse
import statistics

import torch

LAYERS = {"olmoe": (64, 1024, 2048), "mixtral": (8, 14336, 4096)}


def timed(fn, runs):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def mpi_step(g, r, c_prime=4.0):
    h = torch.bmm(g, r.unsqueeze(2))
    r_hat = torch.bmm(g.transpose(1, 2), h).squeeze(2)
    return c_prime / r.shape[0] ** 0.5 * r_hat / r_hat.norm(dim=1, keepdim=True)


def subspace_iteration(g, iterations, b=8):
    e, _, d = g.shape
    v = torch.linalg.qr(torch.randn(e, d, b, device=g.device, dtype=g.dtype))[0]
    for _ in range(iterations):
        w = torch.bmm(g, v)
        h = torch.bmm(w.transpose(1, 2), w)
        theta, y = torch.linalg.eigh(h.double())
        y = y.flip(-1).to(g.dtype)
        v = torch.bmm(v, y)
        z = torch.bmm(g.transpose(1, 2), torch.bmm(w, y))
        v = torch.linalg.qr(z)[0]
    return v[:, :, 0], theta.flip(-1)[:, :2].sqrt()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--products", type=int, default=0,
                    help="products with G^T G per expert that RouterScope needed (gpu_bench)")
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, {dtype}")
    for name, (e, rows, cols) in LAYERS.items():
        gen = torch.Generator(device="cuda").manual_seed(7)
        g = (torch.randn(e, rows, cols, device="cuda", generator=gen) * 0.02).to(torch.bfloat16)
        g = g.to(dtype)
        r = (torch.randn(e, cols, device="cuda", generator=gen) * 0.02).to(dtype)
        step = timed(lambda: mpi_step(g, r), args.runs)
        print(f"{name}: MPI step {step:.3f} ms")
        iterations = max(1, args.products // 8) if args.products else 20
        sub = timed(lambda: subspace_iteration(g, iterations), max(3, args.runs // 3))
        print(f"{name}: block subspace iteration x{iterations} {sub:.1f} ms")
        low = timed(lambda: torch.svd_lowrank(g.float(), q=8, niter=iterations), 3)
        print(f"{name}: torch.svd_lowrank(q=8, niter={iterations}) {low:.1f} ms")


if __name__ == "__main__":
    main()
