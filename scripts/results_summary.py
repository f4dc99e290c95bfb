#!/usr/bin/python3
"""Summarises pretraining records (routerscope pretrain --record) of several seeds into the
tables of docs/RESULTS.md: per variant, mean ± sd over the records of

  - final validation bits per byte (the last validation sample),
  - MaxVio global (validation windows) averaged over layers and over the samples in the last 10%
    of steps, and MaxVio batch likewise over every step in the last 10%,
  - λ (Eq. 11, mean over experts) per layer at the last alignment sample.

Reads the HDF5 files with h5py only (independent of RouterScope's reader); cuts every series to
the committed rows a live record declares.

usage: scripts/results_summary.py RUN.h5 [RUN.h5 ...]
"""
import json
import sys

import h5py
import numpy as np


def committed(f):
    """Committed row counts by dataset path (format 2 records), or None."""
    if "committed_rows" not in f:
        return None
    c = f["committed_rows"]
    names = json.loads(c.attrs["series"])
    return dict(zip(names, c[1:-1]))


def series(f, counts, path):
    d = f[path][()]
    if counts is not None and path in counts:
        d = d[: int(counts[path])]
    return np.asarray(d, dtype=np.float64)


def summarise(path):
    out = {}
    with h5py.File(path, "r") as f:
        counts = committed(f)
        config = json.loads(f.attrs["config"])
        steps = int(config["steps"])
        layers = int(config["layers"])
        tail = steps - max(1, steps // 10)  # first step of the last 10%
        for v in config["variants"]:
            b = f"variants/{v}/"
            step = series(f, counts, b + "step")
            val_step = series(f, counts, b + "val_step")
            val_bpb = series(f, counts, b + "val_bpb")
            align_step = series(f, counts, b + "align_step")
            mv_global, mv_batch, lam = [], [], []
            for l in range(layers):
                lb = b + f"layers/{l}/"
                g = series(f, counts, lb + "maxvio_global")[: len(val_step)]
                mv_global.append(g[val_step >= tail].mean())
                mb = series(f, counts, lb + "maxvio_batch")[: len(step)]
                mv_batch.append(mb[step >= tail].mean())
                lam.append(series(f, counts, lb + "lambda")[len(align_step) - 1].mean())
            out[v] = {
                "bpb": val_bpb[-1],
                "maxvio_global": float(np.mean(mv_global)),
                "maxvio_batch": float(np.mean(mv_batch)),
                "lambda": lam,
                "steps": int(step[-1]) + 1,
            }
    return out


def pm(values, digits=3):
    a = np.asarray(values, dtype=np.float64)
    sd = a.std(ddof=1) if len(a) > 1 else float("nan")
    return f"{a.mean():.{digits}f} ± {sd:.{digits}f}"


def main(paths):
    runs = [summarise(p) for p in paths]
    variants = list(runs[0].keys())
    layers = len(runs[0][variants[0]]["lambda"])
    print(f"{len(runs)} records: " + ", ".join(paths))
    print()
    print("| variant | val bits/byte (final) | MaxVio global (last 10%) | MaxVio batch (last 10%) "
          "| mean λ (end) |")
    print("|---|---|---|---|---|")
    for v in variants:
        r = [run[v] for run in runs]
        print(f"| {v} | {pm([x['bpb'] for x in r])} | {pm([x['maxvio_global'] for x in r])} "
              f"| {pm([x['maxvio_batch'] for x in r])} "
              f"| {pm([np.mean(x['lambda']) for x in r])} |")
    print()
    print("| variant | " + " | ".join(f"λ layer {l}" for l in range(layers)) + " |")
    print("|---|" + "---|" * layers)
    for v in variants:
        r = [run[v] for run in runs]
        print(f"| {v} | " + " | ".join(pm([x["lambda"][l] for x in r]) for l in range(layers))
              + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
