#!/usr/bin/env python3
"""Independent float64 NumPy oracle for `routerscope series` on Mixtral checkpoints
(block_sparse_moe naming): per checkpoint, layer and expert the SVD of w1 (numpy.linalg.svd),
|cos(R_i, u1)|, lambda = |G R_i| / (|R_i| sigma1), sigma1, sigma2/sigma1, |R_i| and |G|_F; with
tokens the load of softmax -> top-k routing (MixtralSparseMoeBlock's selection, as
route_oracle.py), MaxVio, CV and normalised entropy. Compares them with a series record.

  series_oracle.py RECORD TOKENS|- K CKPT_FOLDER...   (checkpoints in the expected step order)
prints JSON: the largest absolute difference per quantity, whether every load is equal, and how
many checkpoints and layers were compared."""
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


def main():
    record, tokens, k, ckpts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    x = None
    if tokens != "-":
        with h5py.File(tokens, "r") as f:
            x = np.asarray(f["hidden_states"], dtype=np.float64)
    err = {}
    load_equal = True
    compared = 0

    def worst(name, got, want):
        err[name] = max(err.get(name, 0.0), float(np.abs(np.asarray(got) - want).max()))

    with h5py.File(record, "r", swmr=True, locking=False) as f:
        steps = [float(s) for s in f["steps"][:]]
        layers = sorted(int(l) for l in f["layers"].keys())
        if len(steps) != len(ckpts):
            raise SystemExit("record has %d steps, %d checkpoints given" % (len(steps), len(ckpts)))
        for c, ckpt in enumerate(ckpts):
            t = load(os.path.join(ckpt, "model.safetensors"))
            for layer in layers:
                g = f["layers/%d" % layer]
                base = "model.layers.%d.block_sparse_moe." % layer
                router = t[base + "gate.weight"]
                n = router.shape[0]
                want = {k_: np.zeros(n) for k_ in
                        ("cos", "lambda", "sigma1", "sigma_ratio", "router_norm", "weight_norm")}
                for e in range(n):
                    w1 = t[base + "experts.%d.w1.weight" % e]
                    _, s, vt = np.linalg.svd(w1)
                    u1, r = vt[0], router[e]
                    rn = np.linalg.norm(r)
                    want["cos"][e] = abs(u1 @ r) / rn
                    want["lambda"][e] = np.linalg.norm(w1 @ r) / (rn * s[0])
                    want["sigma1"][e] = s[0]
                    want["sigma_ratio"][e] = s[1] / s[0]
                    want["router_norm"][e] = rn
                    want["weight_norm"][e] = np.linalg.norm(w1)
                for name, v in want.items():
                    worst(name, g[name][c], v)
                if x is not None:
                    p = softmax(x @ router.T)
                    sel = np.argsort(-p, axis=1, kind="stable")[:, :k]
                    ld = np.bincount(sel.ravel(), minlength=n).astype(np.float64)
                    load_equal = load_equal and bool(np.array_equal(g["load"][c], ld))
                    mean = ld.mean()
                    share = ld / ld.sum()
                    nz = share[share > 0]
                    worst("maxvio", g["maxvio"][c], (ld.max() - mean) / mean)
                    worst("cv", g["cv"][c], ld.std() / mean)
                    worst("entropy", g["entropy"][c], -(nz * np.log(nz)).sum() / np.log(n))
                compared += 1
    print(json.dumps({"errors": err, "load_equal": load_equal, "compared": compared,
                      "steps": steps, "layers": layers}))


if __name__ == "__main__":
    main()
