#!/usr/bin/env python3
"""PyTorch (CPU) peer of bench/mpi_bench.cpp: the same MPI transform and the same router training
step (OLMoE routing, SwiGLU experts, MSE + Switch LB loss, gradient of the stored router by
autograd) on the same .npy inputs, 2 threads, median of several runs; prints the agreement with
RouterScope's outputs. Run from the folder where mpi_bench ran (or set ROUTERSCOPE_BENCH_DATA)."""
import argparse
import json
import math
import os
import statistics
import time

import numpy as np
import torch

K, C_PRIME, ALPHA = 8, 4.0, 0.01


def mpi(router, gate):
    # R̂[i] = G_iᵀ (G_i R[i]); R′ = C′/√N · R̂/‖R̂‖
    h = torch.bmm(gate, router.unsqueeze(2))
    r_hat = torch.bmm(gate.transpose(1, 2), h).squeeze(2)
    return C_PRIME / math.sqrt(router.shape[0]) * r_hat / r_hat.norm(dim=1, keepdim=True)


def step(router_param, reparam, x, target, gate, up, down):
    routing_router = mpi(router_param, gate) if reparam else router_param
    logits = x @ routing_router.T
    probs = torch.softmax(logits, dim=1)
    weights, experts = torch.topk(probs, K, dim=1)
    out = torch.zeros_like(x)
    n = gate.shape[0]
    for e in range(n):
        tok, slot = torch.where(experts == e)
        if tok.numel() == 0:
            continue
        xe = x[tok]
        h = torch.nn.functional.silu(xe @ gate[e].T) * (xe @ up[e].T)
        out.index_add_(0, tok, (h @ down[e].T) * weights[tok, slot].unsqueeze(1))
    task = ((out - target) ** 2).mean()
    load = torch.bincount(experts.flatten(), minlength=n).float()
    lb = ALPHA * n * (load / load.sum() * probs.mean(dim=0)).sum()
    loss = task + lb
    loss.backward()
    return task.item(), lb.item()


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = os.environ.get("ROUTERSCOPE_BENCH_DATA", "mpi-bench-data")
    load = lambda n: torch.from_numpy(np.load(os.path.join(d, n)))
    gate, up, down = load("gate.npy"), load("up.npy"), load("down.npy")
    router, x, target = load("router.npy"), load("x.npy"), load("target.npy")
    ours = json.load(open(os.path.join(d, "routerscope.json")))
    with torch.no_grad():
        r_prime = mpi(router, gate)
    err = (r_prime - load("router_mpi.npy")).abs().max().item()
    with torch.no_grad():
        t_mpi = timed(lambda: mpi(router, gate), args.runs)
    print(f"torch MPI transform (bmm)      median {t_mpi * 1e3:8.2f} ms   max |R' - RouterScope R'| = {err:.2e}")
    for name, reparam in (("vanilla", False), ("mpi", True)):
        def run():
            p = router.clone().requires_grad_(True)
            res = step(p, reparam, x, target, gate, up, down)
            run.grad_norm = p.grad.norm().item()
            return res
        task, lb = run()
        t = timed(run, args.runs)
        o = ours[name]
        print(f"torch train step {name:8s}      median {t * 1e3:8.2f} ms   {x.shape[0] / t:8.0f} tokens/s"
              f"   task rel.diff {abs(task - o['task']) / o['task']:.1e}, lb rel.diff {abs(lb - o['lb']) / o['lb']:.1e},"
              f" |grad| rel.diff {abs(run.grad_norm - o['grad_norm']) / o['grad_norm']:.1e}")


if __name__ == "__main__":
    main()
