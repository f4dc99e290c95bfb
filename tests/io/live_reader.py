"""A run record read with h5py in SWMR mode while its writer runs (record_live_test.cpp).

usage: live_reader.py RECORD STEPS EXPERTS MARKS_DIR

Opens RECORD once with swmr=True and reads it again and again (refresh) until both variants hold
STEPS committed steps. At every read: the committed counts pass their check, every per-step series
of a variant holds the same number of rows, MaxVio_global one row per even step, and each row
equals the value the writer derives from (variant, step, expert) (recomputed here, float64).
When both variants first hold k steps it creates MARKS_DIR/py_seen_k (the writer waits for
it at a few k, so growth is seen while it runs). Prints a JSON summary.
"""
import json
import os
import sys
import time

import h5py
import numpy as np

path, steps, experts, marks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
SCALARS = ["loss", "task_loss", "lb_loss", "z_loss", "maxvio_batch", "lr", "grad_norm"]
ROWS = ["load", "cos", "lambda", "router_norm"]
VARIANTS = {"vanilla": 0, "mpi": 1}


def expected(v, key, s):
    """The writer's values (live_step in record_live_test.cpp)."""
    s = np.asarray(s, dtype=np.float64)
    e = np.arange(experts, dtype=np.float64)
    table = {
        "loss": 1.0 / (s + 1) + v,
        "task_loss": 0.5 / (s + 1) + v,
        "lb_loss": 0.01 * (s + 1),
        "z_loss": 0.0 * s + v,
        "maxvio_batch": 0.1 * s,
        "lr": 1e-3 + 0.0 * s,
        "grad_norm": 1.0 + s,
    }
    if key in table:
        return table[key]
    col = s[:, None]
    rows = {
        "load": col + e[None, :] + 100 * v,
        "cos": 0.5 + 0.0 * col + 0.01 * e[None, :],
        "lambda": 0.25 + 0.001 * col + 0.0 * e[None, :],
        "router_norm": 2.0 + col + v + 0.0 * e[None, :],
        "stored_cos": 0.5 + 0.0 * col + 0.0 * e[None, :],
        "stored_norm": 3.0 + col + 0.0 * e[None, :],
    }
    return rows[key]


f = None
while f is None:  # the writer may not have started SWMR writing yet
    try:
        f = h5py.File(path, "r", swmr=True, locking=False)
    except OSError:
        time.sleep(0.01)

reads, torn, distinct, errors, last = 0, 0, set(), [], None
done_file = os.path.join(marks, "writer_done")
while True:
    finished = os.path.exists(done_file)  # before the read: the read after it sees the end
    counts_ds = f["committed_rows"]
    counts_ds.refresh()
    v = counts_ds[()]
    if int(v[-1]) != int(v[:-1].sum()):
        torn += 1
        continue
    names = json.loads(counts_ds.attrs["series"])
    counts = dict(zip(names, (int(x) for x in v[1:-1])))
    reads += 1
    per_variant = {}
    for name, n in counts.items():
        parts = name.split("/")
        variant, key = parts[1], parts[-1]
        ds = f[name]
        ds.refresh()
        if ds.shape[0] < n:
            errors.append(f"{name}: {n} rows committed, {ds.shape[0]} on file")
            continue
        data = ds[:n]
        if key in ("maxvio_global", "maxvio_global_step"):
            per_variant.setdefault(variant, {}).setdefault("global", set()).add(n)
            s = np.arange(0, 2 * n, 2, dtype=np.float64)
            want = s if key == "maxvio_global_step" else 0.5 + s + VARIANTS[variant]
        else:
            per_variant.setdefault(variant, {}).setdefault("lengths", set()).add(n)
            want = expected(VARIANTS[variant], key, np.arange(n))
        if not np.array_equal(np.asarray(data, dtype=np.float64), want):
            errors.append(f"{name}: rows differ from the writer's values at {n} rows")
    state = []
    for variant in VARIANTS:
        info = per_variant.get(variant, {})
        lengths = info.get("lengths", {0})
        if len(lengths) != 1:
            errors.append(f"{variant}: series of different lengths {sorted(lengths)}")
        n = max(lengths)
        if info.get("global", {(n + 1) // 2}) != {(n + 1) // 2}:
            errors.append(f"{variant}: {sorted(info['global'])} MaxVio_global rows at {n} steps")
        state.append(n)
    if state[1] > state[0] or state[0] > state[1] + 1:
        errors.append(f"variants at {state} steps (vanilla commits first)")
    distinct.add(tuple(state))
    if last is not None and (state[0] < last[0] or state[1] < last[1]):
        errors.append(f"step counts went back from {last} to {state}")
    last = state
    for k in range(1, min(state) + 1):  # both variants hold k steps (the writer pauses there)
        mark = os.path.join(marks, f"py_seen_{k}")
        if not os.path.exists(mark):
            open(mark, "w").close()
    if state == [steps, steps] or finished or len(errors) > 20:
        break

print(json.dumps({"reads": reads, "torn": torn, "distinct": len(distinct), "final": last,
                  "errors": errors[:20]}))
