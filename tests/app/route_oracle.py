#!/usr/bin/env python3
"""Independent float64 NumPy oracle for `routerscope route` on a Mixtral checkpoint (per-expert
block_sparse_moe naming): softmax over all experts, top-k, renormalise (MixtralSparseMoeBlock),
SwiGLU experts; optionally the MPI router R'[i] = C'/sqrt(N) * normalize(G^T G R[i]).

  route_oracle.py tokens OUT.h5 T D SEED         writes hidden_states [T, D] (float32)
  route_oracle.py check CKPT TOKENS OUT.h5 LAYER K ROUTER C_PRIME
      compares OUT.h5 with the oracle and prints JSON: the largest differences and the oracle's
      load, MaxVio, CV and entropy."""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from align_oracle import load  # noqa: E402  (own safetensors parser, float64)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def silu(v):
    return v / (1.0 + np.exp(-v))


def check(ckpt, tokens, out, layer, k, router_kind, c_prime):
    t = load(ckpt)
    base = "model.layers.%d.block_sparse_moe." % layer
    router = t[base + "gate.weight"]
    n = router.shape[0]
    experts = [(t[base + "experts.%d.w1.weight" % e], t[base + "experts.%d.w3.weight" % e],
                t[base + "experts.%d.w2.weight" % e]) for e in range(n)]
    if router_kind == "mpi":
        c = c_prime / np.sqrt(n)
        rows = []
        for i in range(n):
            g = experts[i][0]
            v = g.T @ (g @ router[i])
            rows.append(c * v / np.linalg.norm(v))
        router = np.stack(rows)
    with h5py.File(tokens, "r") as f:
        x = np.asarray(f["hidden_states"], dtype=np.float64)
    logits = x @ router.T
    p = softmax(logits)
    sel = np.argsort(-p, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(p, sel, axis=1)
    w = w / w.sum(axis=1, keepdims=True)
    y = np.zeros_like(x)
    for ti in range(x.shape[0]):
        for j in range(k):
            g, u, d = experts[sel[ti, j]]
            y[ti] += w[ti, j] * (d @ (silu(g @ x[ti]) * (u @ x[ti])))
    load_ = np.bincount(sel.ravel(), minlength=n).astype(np.float64)
    mean = load_.mean()
    share = load_ / load_.sum()
    nz = share[share > 0]
    with h5py.File(out, "r") as f:
        got = {name: np.asarray(f[name]) for name in ("logits", "experts", "weights", "output",
                                                       "load")}
        experts_dtype = str(f["experts"].dtype)
    res = {
        "experts_equal": bool(np.array_equal(got["experts"], sel)),
        "experts_dtype": experts_dtype,
        "shapes": {k_: list(v.shape) for k_, v in got.items()},
        "logits_err": float(np.abs(got["logits"] - logits).max() / (1 + np.abs(logits).max())),
        "weights_err": float(np.abs(got["weights"] - w).max()),
        "output_rel_err": float(np.linalg.norm(got["output"] - y) / np.linalg.norm(y)),
        "load_equal": bool(np.array_equal(got["load"], load_)),
        "load": load_.tolist(),
        "maxvio": float((load_.max() - mean) / mean),
        "cv": float(load_.std() / mean),
        "entropy": float(-(nz * np.log(nz)).sum() / np.log(n)),
    }
    print(json.dumps(res))


def main():
    if sys.argv[1] == "tokens":
        path, rows, cols, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        x = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
        with h5py.File(path, "w") as f:
            f.create_dataset("hidden_states", data=x)
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
              sys.argv[7], float(sys.argv[8]))


if __name__ == "__main__":
    main()
