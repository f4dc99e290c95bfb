#!/usr/bin/env python3
"""Writes a large OLMoE-layout BF16 checkpoint for the peak-memory benchmark.

usage: make_large_checkpoint.py OUT_DIR [LAYERS] [EXPERTS] [D_EXPERT] [D_MODEL]
Gate matrices carry planted spectra (sigma2/sigma1 in [0.5, 0.95]) built cheaply as a rank-8
product plus noise; up/down are zeros (align reads only routers and gates). Deterministic (seed 7)."""
import json
import os
import struct
import sys

import numpy as np


def bf16_bytes(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def main():
    out = sys.argv[1]
    layers, experts, d, dm = (int(x) for x in (sys.argv[2:6] + ["8", "64", "1024", "2048"][len(sys.argv) - 2:]))
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    names = []
    for l in range(layers):
        p = f"model.layers.{l}.mlp."
        names.append((p + "gate.weight", [experts, dm], "router"))
        for e in range(experts):
            for m, shape in (("gate_proj", [d, dm]), ("up_proj", [d, dm]), ("down_proj", [dm, d])):
                names.append((p + f"experts.{e}.{m}.weight", shape, m))
    header, off = {}, 0
    for n, shape, _ in names:
        size = shape[0] * shape[1] * 2
        header[n] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + size]}
        off += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for n, shape, kind in names:
            if kind == "router":
                f.write(bf16_bytes(rng.standard_normal(shape, dtype=np.float32) * 0.02))
            elif kind == "gate_proj":
                ratios = np.sort(rng.uniform(0.5, 0.95, 8))[::-1]
                s = np.concatenate([[1.0], ratios[1:] * ratios[0]]).astype(np.float32)
                u = rng.standard_normal((shape[0], 8), dtype=np.float32)
                v = rng.standard_normal((8, shape[1]), dtype=np.float32)
                u /= np.linalg.norm(u, axis=0)
                v /= np.linalg.norm(v, axis=1, keepdims=True)
                g = (u * s) @ v + rng.standard_normal(shape, dtype=np.float32) * (0.05 / np.sqrt(shape[1]))
                f.write(bf16_bytes(g))
            else:
                f.write(bytes(shape[0] * shape[1] * 2))
    cfg = {"model_type": "olmoe", "hidden_size": dm, "intermediate_size": d,
           "num_hidden_layers": layers, "num_experts": experts, "num_experts_per_tok": 8,
           "norm_topk_prob": False}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


if __name__ == "__main__":
    main()
