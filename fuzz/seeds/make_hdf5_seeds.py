#!/usr/bin/env python3
"""Writes the seed inputs of the record and hidden_states fuzz targets: operation lists for
fuzz/hdf5_builder.cpp that build a complete convergence record, a training record with two
variants and a hidden-states file. The name tables mirror those in hdf5_builder.cpp."""
import os

here = os.path.dirname(os.path.abspath(__file__))
groups = ["", "layers/0", "layers/1", "layers/x", "layers/-1", "variants/mpi", "variants/vanilla",
          "variants/mpi/layers/0", "variants/vanilla/layers/0", "variants/mpi/layers/3",
          "variants/mpi/layers/q"]
datasets = ["cos", "lambda", "router_norm", "pre_norm", "tan_theta", "tan_bound", "sigma1",
            "sigma2", "loss", "task_loss", "lb_loss", "z_loss", "maxvio_batch", "lr", "grad_norm",
            "load", "stored_cos", "stored_norm", "maxvio_global", "maxvio_global_step", "lm_loss",
            "val_bpb", "val_step", "step", "align_step", "raw_norm", "tokens_per_s",
            "hidden_states", "steps", "sigma_ratio", "weight_norm", "maxvio", "cv", "entropy"]
attributes = ["routerscope_record", "kind", "config", "checkpoint_path", "checkpoint_family",
              "checkpoint_files", "routerscope_version"]
values = ["1", "convergence", "training", "pretraining", "{}", '{"variants":["vanilla","mpi"]}',
          '{"variants":["mpi"],"layer":0}', '[{"name":"model.safetensors","bytes":12}]',
          '[{"name":1}]', "[", "", "series"]


def attribute(name, value):
    return [0, attributes.index(name), 1, values.index(value)]


def dataset(group, name, dims, element_type=0, seed=0):
    out = [1, groups.index(group), datasets.index(name), len(dims)] + list(dims) + [element_type]
    count = 1
    for d in dims:
        count *= d
    for i in range(count):  # Bytes::number(): kind byte < 128, then (b - 128) / 16
        out += [20, 128 + (i * 7 + seed * 3) % 40]
    return out


def commit(rows):
    return [3, 1, rows + 2]


conv = (attribute("routerscope_record", "1") + attribute("kind", "convergence") +
        attribute("config", "{}") + attribute("checkpoint_files", values[7]))
for n in ["cos", "lambda", "router_norm", "pre_norm", "tan_theta", "tan_bound"]:
    conv += dataset("layers/0", n, [3, 4], seed=len(conv)) + commit(3)
conv += dataset("layers/0", "sigma1", [4]) + dataset("layers/0", "sigma2", [4], seed=5)

train = (attribute("routerscope_record", "1") + attribute("kind", "training") +
         attribute("config", values[5]) + attribute("checkpoint_files", values[7]))
for v in ["variants/mpi", "variants/vanilla"]:
    for n in ["loss", "task_loss", "lb_loss", "z_loss", "maxvio_batch", "lr", "grad_norm"]:
        train += dataset(v, n, [3], seed=len(train)) + commit(3)
    for n in ["load", "cos", "lambda", "router_norm"]:
        train += dataset(v + "/layers/0", n, [3, 4], seed=len(train)) + commit(3)

# A series record (routerscope series --tokens): 3 checkpoints, 2 layers of 4 experts, so that
# every series figure (series-alignment, series-norms, series-load) is built.
series = (attribute("routerscope_record", "1") + attribute("kind", "series") +
          attribute("config", "{}") + attribute("checkpoint_files", values[7]))
for layer in ["layers/0", "layers/1"]:
    for n in ["cos", "lambda", "sigma1", "sigma_ratio", "router_norm", "weight_norm", "load"]:
        series += dataset(layer, n, [3, 4], seed=len(series)) + commit(3)
    for n in ["maxvio", "cv", "entropy"]:
        series += dataset(layer, n, [3], seed=len(series)) + commit(3)
series += dataset("", "steps", [3], seed=1) + commit(3)

hidden = dataset("", "hidden_states", [5, 4], element_type=1)

for folder, name, data in [("record", "convergence.bin", conv), ("record", "training.bin", train),
                           ("record", "series.bin", series), ("hidden_states", "hidden.bin", hidden)]:
    os.makedirs(os.path.join(here, folder), exist_ok=True)
    with open(os.path.join(here, folder, name), "wb") as f:
        f.write(bytes(data))
