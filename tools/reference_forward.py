#!/usr/bin/python3
"""Independent PyTorch reference of GPT-2's forward pass, writing the logits and every hook point as .npy.

Hugging Face semantics: pre-LN blocks, GELU tanh approximation, causal attention scaled by 1/sqrt(d_head),
tied unembedding (logits = ln_f(x) . wte^T, no bias), layer_norm_epsilon from config.json. Weights are read
from model.safetensors with this file's own parser and upcast exactly from F16/BF16 to float32.

Hook points are TransformerLens's names with cscrub's shapes (include/cscrub/engine/hooks.hpp):
  hook_embed, hook_pos_embed                        [batch, pos, d_model]
  blocks.L.hook_resid_pre / hook_attn_out / hook_resid_mid / hook_mlp_in / hook_mlp_out / hook_resid_post  [batch, pos, d_model]
  blocks.L.hook_q_input / hook_k_input / hook_v_input  [batch, pos, head, d_model]  each head's own copy of resid_pre
  blocks.L.ln1.hook_scale, ln2.hook_scale, ln_final.hook_scale            [batch, pos, 1]   sqrt(var + eps)
  blocks.L.ln1.hook_normalized, ln2..., ln_final...  [batch, pos, d_model]  (x - mean) / scale * w + b (TransformerLens' unfolded LayerNorm)
  blocks.L.attn.hook_q / hook_k / hook_v / hook_z   [batch, pos, head, d_head]
  blocks.L.attn.hook_attn_scores (masked: -inf) / hook_pattern   [batch, head, query_pos, key_pos]
  blocks.L.attn.hook_result                         [batch, pos, head, d_model]  z_h . W_O[h], no bias
  blocks.L.mlp.hook_pre / hook_post                 [batch, pos, d_mlp]
Every hook's (possibly patched) value is what the rest of the forward pass continues from.

Usage:
  reference_forward.py --model DIR --tokens TOKENS.npy --out OUT_DIR [--patch SPEC ...] [--hooks NAME ...]
  reference_forward.py --model DIR --tokens TOKENS.npy --out OUT_DIR --logit-grad GRAD.npy [--float64]
  reference_forward.py --model DIR --tokens TOKENS.npy --self-check
TOKENS.npy: int32/int64 [batch, pos] or [pos]. OUT_DIR receives logits.npy [batch, pos, vocab] and
<hook name>.npy for every hook (or only those named with --hooks).
With --logit-grad GRAD.npy (the logits' shape) it writes instead <hook>.grad.npy, the gradient of
sum(GRAD * logits) with respect to each hook (autograd; the weights take none), and logits.npy.
A patch SPEC is HOOK:HEAD:POS:SOURCE, HEAD and POS an index or '*' (POS is the query position for attention
scores and patterns), SOURCE a .npy of the hook's full shape (e.g. from another prompt's run) or a number
to fill with; e.g. blocks.1.attn.hook_z:2:3:other/blocks.1.attn.hook_z.npy.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

# ---- model directory ----

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    """name -> float32 tensor, for the float tensors of the file (integer buffers are skipped)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")  # a GPT-2-small file is ~500 MB: do not copy it twice
    (header_len,) = struct.unpack("<Q", raw[:8].tobytes())
    header = json.loads(raw[8:8 + header_len].tobytes())
    data = raw[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] not in SAFETENSORS_DTYPES:
            continue
        begin, end = entry["data_offsets"]
        chunk = data[begin:end]
        if entry["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            bits = chunk.view("<u2").astype(np.uint32) << 16
            values = bits.view(np.float32)
        else:
            values = chunk.view(np.dtype(SAFETENSORS_DTYPES[entry["dtype"]]).newbyteorder("<")).astype(np.float32)
        tensors[name] = torch.from_numpy(values.reshape(entry["shape"]).copy())
    return tensors


class Model:
    def __init__(self, model_dir, dtype=torch.float32):
        with open(os.path.join(model_dir, "config.json")) as f:
            config = json.load(f)
        self.n_layer = config["n_layer"]
        self.n_head = config["n_head"]
        self.d_model = config["n_embd"]
        self.d_head = self.d_model // self.n_head
        self.eps = config.get("layer_norm_epsilon", 1e-5)
        assert config.get("activation_function", "gelu_new") in ("gelu_new", "gelu_pytorch_tanh")
        stored = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {}
        for name, tensor in stored.items():
            short = name[len("transformer."):] if name.startswith("transformer.") else name
            if short.endswith("attn.masked_bias") or short == "lm_head.weight":
                continue
            self.w[short] = tensor.to(dtype)
        self.dtype = dtype


# ---- forward pass with hooks ----

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def forward(model, tokens, hook, split_inputs=False):
    """tokens: long [batch, pos]. hook(name, tensor) returns the tensor the forward continues from.

    split_inputs: every head reads its queries, keys and values from its own copies (hook_q_input, ...), so that
    gradients reach them (TransformerLens's use_split_qkv_input); the values are the same."""
    w = model.w
    batch, pos = tokens.shape
    H, dh, D = model.n_head, model.d_head, model.d_model

    def layer_norm(x, prefix, weight, bias):
        centred = x - x.mean(-1, keepdim=True)
        scale = hook(prefix + ".hook_scale", (centred.pow(2).mean(-1, keepdim=True) + model.eps).sqrt())
        return hook(prefix + ".hook_normalized", centred / scale * weight + bias)

    embed = hook("hook_embed", w["wte.weight"][tokens])
    pos_embed = hook("hook_pos_embed", w["wpe.weight"][:pos].unsqueeze(0).expand(batch, pos, D).clone())
    resid = embed + pos_embed
    causal = torch.tril(torch.ones(pos, pos, dtype=torch.bool))
    for layer in range(model.n_layer):
        p, b = f"h.{layer}.", f"blocks.{layer}."
        resid = hook(b + "hook_resid_pre", resid)
        x = layer_norm(resid, b + "ln1", w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = x @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = [t.reshape(batch, pos, H, dh) for t in qkv.split(D, dim=-1)]
        # Each head's own copy of the residual stream per port; a copy the hook replaced (or every copy, when
        # gradients flow through them) feeds that port through ln_1 and the head's columns of c_attn.
        ports = [q, k, v]
        for index, letter in enumerate("qkv"):
            copies = resid.unsqueeze(2).expand(batch, pos, H, D).clone()
            hooked = hook(b + f"hook_{letter}_input", copies)
            if hooked is not copies or split_inputs:
                weight = w[p + "attn.c_attn.weight"][:, index * D:(index + 1) * D].reshape(D, H, dh)
                bias = w[p + "attn.c_attn.bias"][index * D:(index + 1) * D].reshape(H, dh)
                centred = hooked - hooked.mean(-1, keepdim=True)
                normalized = centred / (centred.pow(2).mean(-1, keepdim=True) + model.eps).sqrt()
                normalized = normalized * w[p + "ln_1.weight"] + w[p + "ln_1.bias"]
                ports[index] = torch.einsum("bphd,dhe->bphe", normalized, weight) + bias
        q, k, v = ports
        q = hook(b + "attn.hook_q", q)
        k = hook(b + "attn.hook_k", k)
        v = hook(b + "attn.hook_v", v)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
        scores = scores.masked_fill(~causal, float("-inf"))
        scores = hook(b + "attn.hook_attn_scores", scores)
        pattern = hook(b + "attn.hook_pattern", torch.softmax(scores, dim=-1))
        z = hook(b + "attn.hook_z", torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        w_o = w[p + "attn.c_proj.weight"].reshape(H, dh, D)
        result = hook(b + "attn.hook_result", torch.einsum("bqhd,hdm->bqhm", z, w_o))
        attn_out = hook(b + "hook_attn_out", result.sum(dim=2) + w[p + "attn.c_proj.bias"])
        resid = hook(b + "hook_resid_mid", resid + attn_out)
        mlp_in = hook(b + "hook_mlp_in", resid.clone())  # the MLP's own copy: a change reaches only the MLP
        x = layer_norm(mlp_in, b + "ln2", w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        pre = hook(b + "mlp.hook_pre", x @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        post = hook(b + "mlp.hook_post", gelu_new(pre))
        mlp_out = hook(b + "hook_mlp_out", post @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"])
        resid = hook(b + "hook_resid_post", resid + mlp_out)
    x = layer_norm(resid, "ln_final", w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


# ---- patches (cscrub's engine::Patch semantics) ----

# Which axis holds the head and which the (query) position, by hook suffix.
def head_and_position_axes(name):
    if name.endswith(("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z", "attn.hook_result", "hook_q_input",
                      "hook_k_input", "hook_v_input")):
        return 2, 1
    if name.endswith(("attn.hook_attn_scores", "attn.hook_pattern")):
        return 1, 2
    return None, 1


class Patch:
    def __init__(self, spec):
        parts = spec.split(":", 3)
        if len(parts) != 4:
            sys.exit(f"bad --patch {spec!r}: expected HOOK:HEAD:POS:SOURCE")
        self.hook = parts[0]
        self.head = None if parts[1] == "*" else int(parts[1])
        self.position = None if parts[2] == "*" else int(parts[2])
        try:
            self.fill, self.source = float(parts[3]), None
        except ValueError:
            self.fill, self.source = None, torch.from_numpy(np.load(parts[3]))

    def apply(self, tensor):
        head_axis, position_axis = head_and_position_axes(self.hook)
        index = [slice(None)] * tensor.dim()
        if self.head is not None:
            if head_axis is None:
                sys.exit(f"--patch: {self.hook} has no head axis")
            index[head_axis] = self.head
        if self.position is not None:
            index[position_axis] = self.position
        index = tuple(index)
        tensor = tensor.clone()
        if self.source is None:
            tensor[index] = self.fill
        else:
            if tuple(self.source.shape) != tuple(tensor.shape):
                sys.exit(f"--patch: source shape {tuple(self.source.shape)} != {self.hook} {tuple(tensor.shape)}")
            tensor[index] = self.source.to(tensor.dtype)[index]
        return tensor


# ---- self-check: the same model through torch.nn building blocks ----

def nn_forward(model, tokens):
    """Logits from nn.LayerNorm / nn.MultiheadAttention / nn.GELU: a second, differently written path."""
    w, D, H = model.w, model.d_model, model.n_head
    nn = torch.nn
    batch, pos = tokens.shape

    def ln(prefix):
        m = nn.LayerNorm(D, eps=model.eps)
        m.weight.data, m.bias.data = w[prefix + ".weight"].clone(), w[prefix + ".bias"].clone()
        return m

    def linear(prefix):  # Conv1D (input-major) as nn.Linear (output-major)
        weight = w[prefix + ".weight"]
        m = nn.Linear(weight.shape[0], weight.shape[1])
        m.weight.data, m.bias.data = weight.T.contiguous(), w[prefix + ".bias"].clone()
        return m

    with torch.no_grad():
        x = nn.functional.embedding(tokens, w["wte.weight"]) + w["wpe.weight"][:pos]
        mask = torch.triu(torch.ones(pos, pos, dtype=torch.bool), diagonal=1)  # True = may not attend
        for layer in range(model.n_layer):
            p = f"h.{layer}."
            attn = nn.MultiheadAttention(D, H, batch_first=True)
            attn.in_proj_weight.data = w[p + "attn.c_attn.weight"].T.contiguous()
            attn.in_proj_bias.data = w[p + "attn.c_attn.bias"].clone()
            attn.out_proj.weight.data = w[p + "attn.c_proj.weight"].T.contiguous()
            attn.out_proj.bias.data = w[p + "attn.c_proj.bias"].clone()
            h = ln(p + "ln_1")(x)
            x = x + attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            mlp = nn.Sequential(ln(p + "ln_2"), linear(p + "mlp.c_fc"), nn.GELU(approximate="tanh"),
                                linear(p + "mlp.c_proj"))
            x = x + mlp(x)
        return ln("ln_f")(x) @ w["wte.weight"].T


def self_check(model, tokens):
    """Compares the hooked forward with the nn path and checks identities between hooks; exits 1 on failure."""
    cache = {}

    def record(name, tensor):
        cache[name] = tensor
        return tensor

    with torch.no_grad():
        logits = forward(model, tokens, record)
    reference = nn_forward(model, tokens)
    checks = [("logits vs torch.nn", (logits - reference).abs().max().item())]
    for layer in range(model.n_layer):
        b, p = f"blocks.{layer}.", f"h.{layer}."
        bias = model.w[p + "attn.c_proj.bias"]
        checks += [
            (b + "pattern rows sum to 1", (cache[b + "attn.hook_pattern"].sum(-1) - 1).abs().max().item()),
            (b + "sum of results + bias = attn_out",
             (cache[b + "attn.hook_result"].sum(2) + bias - cache[b + "hook_attn_out"]).abs().max().item()),
            (b + "resid_post = resid_mid + mlp_out",
             (cache[b + "hook_resid_mid"] + cache[b + "hook_mlp_out"] - cache[b + "hook_resid_post"]).abs().max().item()),
        ]
    failed = False
    for name, diff in checks:
        ok = diff <= 1e-4 * max(1.0, logits.abs().max().item())
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| {diff:.3g}")
    sys.exit(1 if failed else 0)


# ---- gradients ----

def write_gradients(model, tokens, logit_grad, wanted, out_dir):
    """Autograd of sum(logit_grad * logits) with respect to every hook point (weights take no gradient)."""
    grad = torch.from_numpy(logit_grad).to(model.dtype)
    recorded = {}

    def hook(name, tensor):
        if tensor.requires_grad:
            tensor.retain_grad()
        else:  # the embeddings: the leaves the gradient ends at
            tensor = tensor.detach().requires_grad_(True)
        recorded[name] = tensor
        return tensor

    logits = forward(model, tokens, hook, split_inputs=True)
    if tuple(grad.shape) != tuple(logits.shape):
        sys.exit(f"--logit-grad: shape {tuple(grad.shape)} != logits {tuple(logits.shape)}")
    (logits * grad).sum().backward()
    for name, tensor in recorded.items():
        if wanted is not None and name not in wanted:
            continue
        gradient = tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)
        np.save(os.path.join(out_dir, name + ".grad.npy"), gradient.to(torch.float32).contiguous().numpy())
    np.save(os.path.join(out_dir, "logits.npy"), logits.detach().to(torch.float32).contiguous().numpy())


# ---- main ----

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out")
    parser.add_argument("--patch", action="append", default=[], help="HOOK:HEAD:POS:SOURCE (repeatable)")
    parser.add_argument("--hooks", nargs="*", help="write only these hooks (default: all)")
    parser.add_argument("--float64", action="store_true", help="compute in float64 (written as float32)")
    parser.add_argument("--self-check", action="store_true")
    parser.add_argument("--logit-grad", help="GRAD.npy [batch, pos, vocab]: write d(sum(GRAD * logits))/d(hook) "
                        "as <hook>.grad.npy for every hook (autograd through the split q/k/v inputs)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = Model(args.model, torch.float64 if args.float64 else torch.float32)
    tokens = np.load(args.tokens)
    if tokens.dtype not in (np.int32, np.int64) or tokens.ndim not in (1, 2):
        sys.exit(f"{args.tokens}: expected int32/int64 [batch, pos] or [pos], got {tokens.dtype} {tokens.shape}")
    tokens = torch.from_numpy(tokens.astype(np.int64)).reshape(-1, tokens.shape[-1])
    if args.self_check:
        self_check(model, tokens)
    if not args.out:
        sys.exit("--out is required (unless --self-check)")

    patches = {}
    for spec in args.patch:
        patch = Patch(spec)
        patches.setdefault(patch.hook, []).append(patch)
    wanted = set(args.hooks) if args.hooks is not None else None
    seen = set()
    os.makedirs(args.out, exist_ok=True)

    def hook(name, tensor):
        seen.add(name)
        for patch in patches.get(name, []):
            tensor = patch.apply(tensor)
        if wanted is None or name in wanted:
            np.save(os.path.join(args.out, name + ".npy"), tensor.to(torch.float32).contiguous().numpy())
        return tensor

    if args.logit_grad:
        write_gradients(model, tokens, np.load(args.logit_grad), wanted, args.out)
        return
    with torch.no_grad():
        logits = forward(model, tokens, hook)
    for name in list(patches) + sorted(wanted or []):
        if name not in seen:
            sys.exit(f"unknown hook point {name!r}")
    np.save(os.path.join(args.out, "logits.npy"), logits.to(torch.float32).contiguous().numpy())


if __name__ == "__main__":
    main()
