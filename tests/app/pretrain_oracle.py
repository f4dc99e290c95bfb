"""Independent checks of a `routerscope pretrain --lr 1e-30` run (every update rounds away in
float, so the parameters never change and every recorded row describes the saved checkpoint): reads the HDF5 record with h5py and the saved
Mixtral folders with struct + json + NumPy (not RouterScope's reader), recomputes in float64
  - loss = lm_loss + lb_loss, every batch slot routed (load sums to batch·ctx·top_k),
  - MaxVio batch = (max load - mean) / mean,
  - raw_norm = ||R_i|| (raw router from the state file), router_norm = ||R'_i|| (gate.weight),
  - sigma1 = largest singular value of each expert's w1 (NumPy SVD),
  - |cos(R'_i, u1)| and lambda = ||W1 R'_i|| / (||R'_i|| sigma1) at the alignment samples,
  - for MPI variants R' = (C'/sqrt(E)) * normalize(R W1^T W1) recomputed from raw R and w1.
usage: pretrain_oracle.py RECORD SAVE_DIR BATCH CTX TOP_K C_PRIME
Prints "ok" or every failed check; exit 1 on failure."""
import json
import struct
import sys

import h5py
import numpy as np

record, save, batch, ctx, top_k, c_prime = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), float(sys.argv[6])
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"]).astype(np.float64)
    return out


f = h5py.File(record, "r")
config = json.loads(f.attrs["config"])
E = config["experts"]
for name in config["variants"]:
    v = f["variants/" + name]
    weights = read_safetensors(f"{save}/{name}/model.safetensors")
    state = read_safetensors(f"{save}/{name}/routerscope_state.safetensors")
    S = v["loss"].shape[0]
    check(np.allclose(v["loss"][:], v["lm_loss"][:] + v["lb_loss"][:], rtol=1e-6, atol=1e-9),
          f"{name}: loss != lm_loss + lb_loss")
    check(list(v["step"][:]) == list(range(S)), f"{name}: step column {v['step'][:]}")
    for l in range(config["layers"]):
        g = v[f"layers/{l}"]
        p = f"model.layers.{l}.block_sparse_moe."
        routing = weights[p + "gate.weight"]
        raw = state[f"raw_router.{l}"]
        w1 = [weights[p + f"experts.{e}.w1.weight"] for e in range(E)]
        load = g["load"][:]
        check(np.all(load.sum(axis=1) == batch * ctx * top_k), f"{name} layer {l}: load sums {load.sum(axis=1)}")
        mean = load.mean(axis=1)
        check(np.allclose(g["maxvio_batch"][:], (load.max(axis=1) - mean) / mean, rtol=1e-9),
              f"{name} layer {l}: maxvio_batch")
        sig = np.array([np.linalg.svd(w, compute_uv=False)[0] for w in w1])
        check(np.allclose(g["sigma1"][:], sig[None, :], rtol=1e-4), f"{name} layer {l}: sigma1 {g['sigma1'][0]} vs {sig}")
        check(np.allclose(g["raw_norm"][:], np.linalg.norm(raw, axis=1)[None, :], rtol=1e-5),
              f"{name} layer {l}: raw_norm")
        check(np.allclose(g["router_norm"][:], np.linalg.norm(routing, axis=1)[None, :], rtol=1e-5),
              f"{name} layer {l}: router_norm")
        if name == "mpi":
            expect = np.stack([raw[e] @ w1[e].T @ w1[e] for e in range(E)])
            expect *= (c_prime / np.sqrt(E)) / np.linalg.norm(expect, axis=1, keepdims=True)
            check(np.allclose(routing, expect, rtol=1e-4, atol=1e-6), f"mpi layer {l}: gate.weight is not R'")
        elif name == "vanilla":
            check(np.array_equal(routing, raw), f"vanilla layer {l}: gate.weight != raw R")
        cos, lam = [], []
        for e in range(E):
            _, s, vt = np.linalg.svd(w1[e])
            r = routing[e]
            cos.append(abs(r @ vt[0]) / np.linalg.norm(r))
            lam.append(np.linalg.norm(w1[e] @ r) / (np.linalg.norm(r) * s[0]))
        check(g["cos"].shape[0] == v["align_step"].shape[0] and g["cos"].shape[0] >= 2,
              f"{name} layer {l}: {g['cos'].shape[0]} alignment samples")
        check(np.allclose(g["cos"][:], np.array(cos)[None, :], atol=1e-4), f"{name} layer {l}: cos {g['cos'][0]} vs {cos}")
        check(np.allclose(g["lambda"][:], np.array(lam)[None, :], atol=1e-4), f"{name} layer {l}: lambda")
        check(g["maxvio_global"].shape == v["val_bpb"].shape, f"{name} layer {l}: maxvio_global shape")
    check(np.all(np.isfinite(v["val_bpb"][:])) and v["val_step"][-1] == S - 1, f"{name}: val samples")
    # lr 1e-30: the parameters never move, so every evaluation gives the same number.
    check(np.allclose(v["val_bpb"][:], v["val_bpb"][0], rtol=1e-6), f"{name}: val_bpb varies at lr 1e-30")
print("ok" if not failures else "\n".join(failures))
sys.exit(1 if failures else 0)
