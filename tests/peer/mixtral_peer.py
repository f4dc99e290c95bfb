#!/usr/bin/python3
"""Independent PyTorch peer of RouterScope's pretraining engine (core/lm).

Written from transformers' MixtralForCausalLM definition (modeling_mixtral.py): RMSNorm, rotary
embeddings with rotate_half, causal multi-head attention without biases, MixtralSparseMoeBlock
(softmax over all experts -> top-k -> renormalise, experts w2(silu(w1 x) * w3 x)), final norm,
untied lm_head. Plus the MPI router of arXiv 2606.12397 (R' = C'/sqrt(N) * normalize(W1^T W1 R[i]),
recomputed in every forward pass, gradients into R and W1) and the issue's loss (next-token CE +
alpha * Switch LB averaged over layers) and optimiser (torch.optim.AdamW, linear warm-up + cosine to
0.1 lr, global grad-norm clip).

Reads a Hugging Face checkpoint folder (config.json + model.safetensors, F32) with its own small
safetensors reader (Debian has no python3-safetensors).

  mixtral_peer.py train --ckpt DIR --batches FILE --batch B --seq T --steps N --variant V
                        [--lr --warmup --total-steps --lb-alpha --c-prime --power-steps --threads]
      prints one JSON object per step: {"step", "loss", "lm", "lb"}
  mixtral_peer.py bpb --ckpt DIR --data FILE --ctx T [--threads N]
      prints {"bits_per_byte": x, "windows": n}: mean next-token CE in bits over non-overlapping
      windows of T bytes from the start of FILE, every position predicting the next byte inside
      its window, a last partial window dropped (routes with gate.weight as stored)
  mixtral_peer.py bench [--d-model D --layers L --heads H --experts E --top-k K --d-expert F
                        --batch B --seq T --steps N --variant V --threads N]
      prints {"tokens_per_s": x, "tokens_per_cpu_s": y}: training steps on random parameters (N(0, 0.02²)) and random
      bytes, after one warm-up step (bench/lm_bench.cpp does the same work)
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {info['dtype']}, the peer reads F32 only")
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(
            np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


class Config:
    def __init__(self, path):
        c = json.load(open(path))
        self.vocab = c["vocab_size"]
        self.d = c["hidden_size"]
        self.f = c["intermediate_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.experts = c["num_local_experts"]
        self.top_k = c["num_experts_per_tok"]
        self.eps = c["rms_norm_eps"]
        self.theta = c["rope_theta"]


def rms_norm(x, w, eps):
    # MixtralRMSNorm: x * rsqrt(mean(x^2) + eps) * weight
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(seq, dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    t = torch.arange(seq, dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().float(), emb.sin().float()


class Model:
    def __init__(self, cfg, tensors):
        self.cfg = cfg
        self.p = {k: v.clone().requires_grad_(True) for k, v in tensors.items()}

    def w(self, name):
        return self.p[name]

    def router(self, l, variant, c_prime, power_steps):
        r = self.w(f"model.layers.{l}.block_sparse_moe.gate.weight")
        if variant == "vanilla":
            return r
        rows = []
        for e in range(self.cfg.experts):
            v = r[e]
            if variant != "no-power":
                w1 = self.w(f"model.layers.{l}.block_sparse_moe.experts.{e}.w1.weight")
                for _ in range(power_steps):
                    v = w1.t() @ (w1 @ v)
            if variant != "no-retract":
                v = (c_prime / math.sqrt(self.cfg.experts)) * v / v.norm()
            rows.append(v)
        return torch.stack(rows)

    def forward(self, inputs, targets, variant="vanilla", c_prime=4.0, power_steps=1):
        cfg = self.cfg
        b, t = inputs.shape
        hd = cfg.d // cfg.heads
        cos, sin = rope(t, hd, cfg.theta)
        x = F.embedding(inputs, self.w("model.embed_tokens.weight"))
        mask = torch.full((t, t), float("-inf")).triu(1)
        lbs = []
        for l in range(cfg.layers):
            pre = f"model.layers.{l}."
            h = rms_norm(x, self.w(pre + "input_layernorm.weight"), cfg.eps)
            q = F.linear(h, self.w(pre + "self_attn.q_proj.weight")).view(b, t, cfg.heads, hd).transpose(1, 2)
            k = F.linear(h, self.w(pre + "self_attn.k_proj.weight")).view(b, t, cfg.heads, hd).transpose(1, 2)
            v = F.linear(h, self.w(pre + "self_attn.v_proj.weight")).view(b, t, cfg.heads, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            att = (q @ k.transpose(2, 3)) / math.sqrt(hd) + mask
            att = F.softmax(att, dim=-1, dtype=torch.float32)
            o = (att @ v).transpose(1, 2).reshape(b, t, cfg.d)
            x = x + F.linear(o, self.w(pre + "self_attn.o_proj.weight"))
            h = rms_norm(x, self.w(pre + "post_attention_layernorm.weight"), cfg.eps).view(-1, cfg.d)
            r = self.router(l, variant, c_prime, power_steps)
            logits = F.linear(h, r)
            probs = F.softmax(logits, dim=1, dtype=torch.float)
            weights, chosen = torch.topk(probs, cfg.top_k, dim=-1)
            weights = weights / weights.sum(dim=-1, keepdim=True)
            out = torch.zeros_like(h)
            onehot = F.one_hot(chosen, num_classes=cfg.experts)  # [n, k, E]
            for e in range(cfg.experts):
                idx, slot = torch.where(chosen == e)
                if idx.numel() == 0:
                    continue
                xe = h[idx]
                ep = pre + f"block_sparse_moe.experts.{e}."
                ye = F.linear(F.silu(F.linear(xe, self.w(ep + "w1.weight"))) *
                              F.linear(xe, self.w(ep + "w3.weight")), self.w(ep + "w2.weight"))
                out.index_add_(0, idx, ye * weights[idx, slot, None])
            # Switch LB: N * sum_i f_i P_i, f_i = share of routed slots, P_i = mean probability.
            f = onehot.sum(dim=(0, 1)).float() / (h.shape[0] * cfg.top_k)
            lbs.append(cfg.experts * (f * probs.mean(dim=0)).sum())
            x = x + out.view(b, t, cfg.d)
        x = rms_norm(x, self.w("model.norm.weight"), cfg.eps)
        logits = F.linear(x, self.w("lm_head.weight"))
        lm = F.cross_entropy(logits.view(-1, cfg.vocab), targets.reshape(-1))
        return lm, torch.stack(lbs).mean()


def learning_rate(step, lr, warmup, total, min_ratio=0.1):
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - 1 - max(0, warmup))
    progress = min(max((step - max(0, warmup)) / span, 0.0), 1.0)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def random_model(a):
    cfg = Config.__new__(Config)
    cfg.vocab, cfg.d, cfg.f, cfg.layers = 256, a.d_model, a.d_expert, a.layers
    cfg.heads, cfg.experts, cfg.top_k, cfg.eps, cfg.theta = a.heads, a.experts, a.top_k, 1e-5, 1e4
    g = torch.Generator().manual_seed(0)
    t = {"model.embed_tokens.weight": torch.randn(cfg.vocab, cfg.d, generator=g) * 0.02}
    for l in range(cfg.layers):
        pre = f"model.layers.{l}."
        t[pre + "input_layernorm.weight"] = torch.ones(cfg.d)
        for n in "qkvo":
            t[pre + f"self_attn.{n}_proj.weight"] = torch.randn(cfg.d, cfg.d, generator=g) * 0.02
        t[pre + "post_attention_layernorm.weight"] = torch.ones(cfg.d)
        t[pre + "block_sparse_moe.gate.weight"] = torch.randn(cfg.experts, cfg.d, generator=g) * 0.02
        for e in range(cfg.experts):
            ep = pre + f"block_sparse_moe.experts.{e}."
            t[ep + "w1.weight"] = torch.randn(cfg.f, cfg.d, generator=g) * 0.02
            t[ep + "w2.weight"] = torch.randn(cfg.d, cfg.f, generator=g) * 0.02
            t[ep + "w3.weight"] = torch.randn(cfg.f, cfg.d, generator=g) * 0.02
    t["model.norm.weight"] = torch.ones(cfg.d)
    t["lm_head.weight"] = torch.randn(cfg.vocab, cfg.d, generator=g) * 0.02
    return Model(cfg, t)


def load(ckpt):
    return Model(Config(f"{ckpt}/config.json"), read_safetensors(f"{ckpt}/model.safetensors"))


def read_batches(a):
    raw = np.fromfile(a.batches, dtype="<i4")
    per = 2 * a.batch * a.seq
    if raw.size < per * a.steps:
        raise SystemExit(f"{a.batches}: {raw.size} int32 values, need {per * a.steps}")
    return torch.from_numpy(raw[: per * a.steps].astype(np.int64)).view(a.steps, 2, a.batch, a.seq)


def train(a, timed=False):
    torch.set_num_threads(a.threads)
    if timed:
        model = random_model(a)
        g = torch.Generator().manual_seed(1)
        batches = torch.randint(0, 256, (a.steps, 2, a.batch, a.seq), generator=g)
    else:
        model = load(a.ckpt)
        batches = read_batches(a)
    decay = [p for n, p in model.p.items() if p.dim() == 2]
    no_decay = [p for n, p in model.p.items() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    params = list(model.p.values())
    start = None
    for s in range(a.steps):
        if timed and s == 1:
            start, cpu_start = time.perf_counter(), time.process_time()
        lm, lb = model.forward(batches[s, 0], batches[s, 1], a.variant, a.c_prime, a.power_steps)
        loss = lm + a.lb_alpha * lb
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for g in opt.param_groups:
            g["lr"] = learning_rate(s, a.lr, a.warmup, a.total_steps)
        opt.step()
        if not timed:
            print(json.dumps({"step": s, "loss": loss.item(), "lm": lm.item(), "lb": lb.item()}))
    if timed:
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        tokens = (a.steps - 1) * a.batch * a.seq
        # Per CPU second as well: on a shared machine wall time measures the neighbours.
        print(json.dumps({"tokens_per_s": tokens / elapsed, "tokens_per_cpu_s": tokens / cpu,
                          "threads": a.threads, "variant": a.variant}))


def bpb(a):
    torch.set_num_threads(a.threads)
    model = load(a.ckpt)
    data = np.fromfile(a.data, dtype=np.uint8).astype(np.int64)
    windows = data.size // a.ctx
    if windows < 1:
        raise SystemExit(f"{a.data}: {data.size} bytes, fewer than one window of {a.ctx}")
    total, count = 0.0, 0
    with torch.no_grad():
        for w0 in range(0, windows, 16):
            w = torch.from_numpy(data[w0 * a.ctx: min(windows, w0 + 16) * a.ctx]).view(-1, a.ctx)
            lm, _ = model.forward(w[:, :-1], w[:, 1:])
            n = w.shape[0] * (a.ctx - 1)
            total += lm.item() * n
            count += n
    print(json.dumps({"bits_per_byte": total / count / math.log(2), "windows": windows}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["train", "bpb", "bench"])
    ap.add_argument("--ckpt")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--d-expert", type=int, default=256)
    ap.add_argument("--batches")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--variant", default="vanilla",
                    choices=["vanilla", "mpi", "no-power", "no-retract"])
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--total-steps", type=int, default=600)
    ap.add_argument("--lb-alpha", type=float, default=0.01)
    ap.add_argument("--c-prime", type=float, default=4.0)
    ap.add_argument("--power-steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data")
    ap.add_argument("--ctx", type=int, default=128)
    a = ap.parse_args()
    if a.mode == "bpb":
        bpb(a)
    else:
        train(a, timed=a.mode == "bench")


if __name__ == "__main__":
    sys.exit(main())
