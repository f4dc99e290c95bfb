"""Independent oracle for a Mixtral checkpoint folder written by RouterScope.

Lists the state_dict names and shapes of transformers' MixtralForCausalLM (modeling_mixtral.py:
model.embed_tokens, model.layers[i].{input_layernorm, self_attn.{q,k,v,o}_proj,
post_attention_layernorm, block_sparse_moe.{gate, experts[j].{w1,w2,w3}}}, model.norm, lm_head;
nn.Linear weights are [out_features, in_features]) from config.json, and compares them with the
safetensors header (parsed here with struct + json, not with RouterScope's reader).
Prints "ok N" or the first difference; exit 1 on a difference."""
import json
import struct
import sys

folder = sys.argv[1]
cfg = json.load(open(folder + "/config.json"))
assert cfg["model_type"] == "mixtral", cfg["model_type"]
assert cfg["architectures"] == ["MixtralForCausalLM"], cfg["architectures"]
D, V, F = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
H, KV, E = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_local_experts"]
hd = cfg.get("head_dim") or D // H
want = {"model.embed_tokens.weight": [V, D], "model.norm.weight": [D], "lm_head.weight": [V, D]}
for i in range(cfg["num_hidden_layers"]):
    p = f"model.layers.{i}."
    want[p + "input_layernorm.weight"] = [D]
    want[p + "post_attention_layernorm.weight"] = [D]
    want[p + "self_attn.q_proj.weight"] = [H * hd, D]
    want[p + "self_attn.k_proj.weight"] = [KV * hd, D]
    want[p + "self_attn.v_proj.weight"] = [KV * hd, D]
    want[p + "self_attn.o_proj.weight"] = [D, H * hd]
    want[p + "block_sparse_moe.gate.weight"] = [E, D]
    for j in range(E):
        q = p + f"block_sparse_moe.experts.{j}."
        want[q + "w1.weight"] = [F, D]
        want[q + "w2.weight"] = [D, F]
        want[q + "w3.weight"] = [F, D]

with open(folder + "/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
header.pop("__metadata__", None)
got = {k: v["shape"] for k, v in header.items()}
for k in sorted(set(want) | set(got)):
    if want.get(k) != got.get(k):
        print("differs:", k, "expected", want.get(k), "found", got.get(k))
        sys.exit(1)
for k, v in header.items():
    if v["dtype"] != "F32":
        print("dtype:", k, v["dtype"])
        sys.exit(1)
print("ok", len(got))
