#!/usr/bin/env python3
"""Independent oracle for `routerscope align`: reads a safetensors checkpoint with NumPy only
(own header parser, own BF16/F16 decoding), computes each routed expert's principal direction of
the gate matrix with numpy.linalg.svd in float64, and prints |cos| and lambda per expert as JSON.
Supports the per-expert OLMoE/Mixtral naming used by the demo checkpoint and the fixtures."""
import json
import re
import struct
import sys

import numpy as np


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = raw[base + b:base + e]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif t["dtype"] == "F16":
            a = np.frombuffer(buf, dtype=np.float16).astype(np.float32)
        elif t["dtype"] == "F32":
            a = np.frombuffer(buf, dtype=np.float32)
        else:
            continue
        tensors[name] = a.reshape(t["shape"]).astype(np.float64)
    return tensors


def main():
    tensors = load(sys.argv[1])
    routers = {}
    for name in tensors:
        m = re.match(r"model\.layers\.(\d+)\.(mlp\.gate|block_sparse_moe\.gate)\.weight$", name)
        if m:
            routers[int(m.group(1))] = (m.group(2).split(".")[0], tensors[name])
    out = {}
    for layer, (block, r) in sorted(routers.items()):
        rows = []
        for e in range(r.shape[0]):
            prefix = f"model.layers.{layer}.{block}.experts.{e}."
            g = tensors.get(prefix + "gate_proj.weight")
            if g is None:
                g = tensors[prefix + "w1.weight"]
            _, s, vt = np.linalg.svd(g, full_matrices=False)
            u1 = vt[0]
            ri = r[e]
            cos = abs(u1 @ ri) / np.linalg.norm(ri)
            lam = np.linalg.norm(g @ ri) / (np.linalg.norm(ri) * s[0])
            rows.append({"cos": cos, "lambda": lam, "sigma1": s[0], "sigma2": s[1],
                         "router_norm": np.linalg.norm(ri)})
        out[str(layer)] = rows
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
