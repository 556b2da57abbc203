#!/usr/bin/python3
"""Independent PyTorch reference of the forward pass of GPT-2, GPT-Neo and GPT-NeoX (Pythia), writing the logits
and every hook point as .npy.

Written from Hugging Face's modeling_gpt2.py, modeling_gpt_neo.py and modeling_gpt_neox.py (not importing
transformers), in each family's own terms: config keys and defaults, tensor names, Conv1D [in, out] or nn.Linear
[out, in] weights, GPT-NeoX's fused query_key_value viewed as [batch, pos, head, 3 * d_head].
  gpt2:     pre-LN blocks; scores / sqrt(d_head) (scale_attn_weights), also / (layer + 1)
            (scale_attn_by_inverse_layer_idx); activation_function (gelu_new: tanh; gelu: erf); tied lm_head
            unless tie_word_embeddings is false. reorder_and_upcast_attn only changes float16 arithmetic.
  gpt_neo:  unscaled scores; attention_types expanded per layer; local layers mask keys at distance >=
            window_size (tril(bias) xor tril(bias, -window_size)); q/k/v projections without bias.
  gpt_neox: rotary embedding on the first int(d_head * rotary_pct) dims of q and k (rotate_half pairs i with
            i + r/2, inv_freq = 1 / base^(arange(0, r, 2) / r)); scores * d_head^-0.5; use_parallel_residual:
            x + attn(ln1(x)) + mlp(ln2(x)); hidden_act (gelu: erf); untied embed_out; no position embedding.
Weights are read from model.safetensors with this file's own parser and upcast exactly from F16/BF16.

Hook points are TransformerLens's names with cscrub's shapes (include/cscrub/engine/hooks.hpp):
  hook_embed, hook_pos_embed (not in gpt_neox)      [batch, pos, d_model]
  blocks.L.hook_resid_pre / hook_attn_out / hook_resid_mid / hook_mlp_in / hook_mlp_out / hook_resid_post  [batch, pos, d_model]
  blocks.L.hook_q_input / hook_k_input / hook_v_input  [batch, pos, head, d_model]  each head's own copy of resid_pre
  blocks.L.ln1.hook_scale, ln2.hook_scale, ln_final.hook_scale            [batch, pos, 1]   sqrt(var + eps)
  blocks.L.ln1.hook_normalized, ln2..., ln_final...  [batch, pos, d_model]  (x - mean) / scale * w + b (TransformerLens' unfolded LayerNorm)
  blocks.L.attn.hook_q / hook_k / hook_v / hook_z   [batch, pos, head, d_head]
  blocks.L.attn.hook_rot_q / hook_rot_k (gpt_neox)  [batch, pos, head, d_head]  q and k after the rotary embedding
  (in a parallel block, hook_resid_mid is resid_pre + attn_out, which the MLP does not read)
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


def expand_attention_types(types):
    """GPT-Neo's [[["global", "local"], 6]] -> one type per layer."""
    return [kind for kinds, repeat in types for _ in range(repeat) for kind in kinds]


class Model:
    def __init__(self, model_dir, dtype=torch.float32):
        with open(os.path.join(model_dir, "config.json")) as f:
            config = json.load(f)
        self.family = config.get("model_type", "gpt2")
        self.dtype = dtype
        c = config
        if self.family == "gpt2":
            self.n_layer, self.n_head, self.d_model = c["n_layer"], c["n_head"], c["n_embd"]
            self.eps = c.get("layer_norm_epsilon", 1e-5)
            self.activation = c.get("activation_function", "gelu_new")
            self.tied = c.get("tie_word_embeddings", True)
            self.scale_attn_weights = c.get("scale_attn_weights", True)
            self.inverse_layer = c.get("scale_attn_by_inverse_layer_idx", False)
            prefix, unembedding = "transformer.", "lm_head.weight"
        elif self.family == "gpt_neo":
            self.n_layer, self.n_head, self.d_model = c["num_layers"], c["num_heads"], c["hidden_size"]
            self.eps = c.get("layer_norm_epsilon", 1e-5)
            self.activation = c.get("activation_function", "gelu_new")
            self.tied = c.get("tie_word_embeddings", True)
            self.attention_layers = expand_attention_types(c.get("attention_types", [[["global", "local"], 12]]))
            self.window = c.get("window_size", 256)
            prefix, unembedding = "transformer.", "lm_head.weight"
        elif self.family == "gpt_neox":
            self.n_layer, self.n_head = c["num_hidden_layers"], c["num_attention_heads"]
            self.d_model = c["hidden_size"]
            self.eps = c.get("layer_norm_eps", 1e-5)
            self.activation = c.get("hidden_act", "gelu")
            self.tied = c.get("tie_word_embeddings", False)
            rope = c.get("rope_parameters") or {}
            self.rotary_pct = c.get("rotary_pct", rope.get("partial_rotary_factor", 0.25))
            self.rotary_base = c.get("rotary_emb_base", rope.get("rope_theta", 10000))
            self.parallel = c.get("use_parallel_residual", True)
            prefix, unembedding = "gpt_neox.", "embed_out.weight"
        else:
            sys.exit(f"model_type {self.family!r} is not one this reference computes")
        assert self.activation in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu"), self.activation
        self.d_head = self.d_model // self.n_head
        stored = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {}
        for name, tensor in stored.items():
            short = name[len(prefix):] if name.startswith(prefix) else name
            self.w[short] = tensor.to(dtype)
        embedding = "embed_in.weight" if self.family == "gpt_neox" else "wte.weight"
        self.unembedding = self.w[embedding] if self.tied else self.w[unembedding]


# ---- forward pass with hooks ----

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def activation(model, x):
    if model.activation == "gelu":
        return torch.nn.functional.gelu(x)  # exact: 0.5 x (1 + erf(x / sqrt 2))
    return gelu_new(x)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary(model, q, k, pos):
    """q, k [batch, pos, head, d_head]: the first r dims rotated by position, the rest passed through."""
    r = int(model.d_head * model.rotary_pct)
    inv_freq = 1.0 / (model.rotary_base ** (torch.arange(0, r, 2, dtype=model.dtype) / r))
    freqs = torch.outer(torch.arange(pos, dtype=model.dtype), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # [pos, r]
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]

    def apply(x):
        x_rot, x_pass = x[..., :r], x[..., r:]
        return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)

    return apply(q), apply(k)


class Layer:
    """One block's parameters in the family's names, as the math below needs them."""

    def __init__(self, model, layer):
        w, D, H, dh = model.w, model.d_model, model.n_head, model.d_head
        if model.family == "gpt2":
            p = f"h.{layer}."
            self.ln1, self.ln2 = (w[p + "ln_1.weight"], w[p + "ln_1.bias"]), (w[p + "ln_2.weight"], w[p + "ln_2.bias"])
            self.c_attn = (w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"])
            self.w_o, self.b_o = w[p + "attn.c_proj.weight"].reshape(H, dh, D), w[p + "attn.c_proj.bias"]
            self.fc = (w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"])
            self.proj = (w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])
        elif model.family == "gpt_neo":
            p = f"h.{layer}."
            a = p + "attn.attention."
            self.ln1, self.ln2 = (w[p + "ln_1.weight"], w[p + "ln_1.bias"]), (w[p + "ln_2.weight"], w[p + "ln_2.bias"])
            self.q_proj, self.k_proj, self.v_proj = w[a + "q_proj.weight"], w[a + "k_proj.weight"], w[a + "v_proj.weight"]
            self.w_o, self.b_o = w[a + "out_proj.weight"].T.reshape(H, dh, D), w[a + "out_proj.bias"]
            self.fc = (w[p + "mlp.c_fc.weight"].T, w[p + "mlp.c_fc.bias"])
            self.proj = (w[p + "mlp.c_proj.weight"].T, w[p + "mlp.c_proj.bias"])
        else:
            p = f"layers.{layer}."
            zeros = torch.zeros(D, dtype=model.dtype)
            self.ln1 = (w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"])
            self.ln2 = (w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"])
            self.qkv = (w[p + "attention.query_key_value.weight"],
                        w.get(p + "attention.query_key_value.bias", torch.zeros(3 * D, dtype=model.dtype)))
            self.w_o, self.b_o = w[p + "attention.dense.weight"].T.reshape(H, dh, D), w.get(p + "attention.dense.bias", zeros)
            self.fc = (w[p + "mlp.dense_h_to_4h.weight"].T, w[p + "mlp.dense_h_to_4h.bias"])
            self.proj = (w[p + "mlp.dense_4h_to_h.weight"].T, w[p + "mlp.dense_4h_to_h.bias"])


def project_qkv(model, lw, x):
    """q, k, v [batch, pos, head, d_head] from ln_1's output."""
    batch, pos, _ = x.shape
    H, dh, D = model.n_head, model.d_head, model.d_model
    if model.family == "gpt2":
        qkv = x @ lw.c_attn[0] + lw.c_attn[1]
        return tuple(t.reshape(batch, pos, H, dh) for t in qkv.split(D, dim=-1))
    if model.family == "gpt_neo":
        return tuple((x @ m.T).reshape(batch, pos, H, dh) for m in (lw.q_proj, lw.k_proj, lw.v_proj))
    qkv = (x @ lw.qkv[0].T + lw.qkv[1]).view(batch, pos, H, 3 * dh)  # per head: [q_h | k_h | v_h]
    return qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]


def score_scale(model, layer):
    if model.family == "gpt2":
        scale = 1.0 / math.sqrt(model.d_head) if model.scale_attn_weights else 1.0
        return scale / (layer + 1) if model.inverse_layer else scale
    if model.family == "gpt_neo":
        return 1.0
    return model.d_head ** -0.5


def attention_mask(model, layer, pos):
    """True where a query may attend."""
    bias = torch.tril(torch.ones(pos, pos, dtype=torch.bool))
    if model.family == "gpt_neo" and model.attention_layers[layer] == "local":
        bias = torch.bitwise_xor(bias, torch.tril(bias, -model.window))
    return bias


def forward(model, tokens, hook, split_inputs=False):
    """tokens: long [batch, pos]. hook(name, tensor) returns the tensor the forward continues from.

    split_inputs: every head reads its queries, keys and values from its own copies (hook_q_input, ...), so that
    gradients reach them (TransformerLens's use_split_qkv_input); the values are the same."""
    w = model.w
    batch, pos = tokens.shape
    D = model.d_model

    def layer_norm(x, prefix, weight, bias):
        centred = x - x.mean(-1, keepdim=True)
        scale = hook(prefix + ".hook_scale", (centred.pow(2).mean(-1, keepdim=True) + model.eps).sqrt())
        return hook(prefix + ".hook_normalized", centred / scale * weight + bias)

    neox = model.family == "gpt_neox"
    resid = hook("hook_embed", w["embed_in.weight" if neox else "wte.weight"][tokens])
    if not neox:
        resid = resid + hook("hook_pos_embed", w["wpe.weight"][:pos].unsqueeze(0).expand(batch, pos, D).clone())
    for layer in range(model.n_layer):
        b = f"blocks.{layer}."
        lw = Layer(model, layer)
        resid = hook(b + "hook_resid_pre", resid)
        x = layer_norm(resid, b + "ln1", *lw.ln1)
        q, k, v = project_qkv(model, lw, x)
        # Each head's own copy of the residual stream per port; a copy the hook replaced (or every copy, when
        # gradients flow through them) feeds that port of that head through ln_1 and the family's projection.
        ports = [q, k, v]
        for index, letter in enumerate("qkv"):
            copies = resid.unsqueeze(2).expand(batch, pos, model.n_head, D).clone()
            hooked = hook(b + f"hook_{letter}_input", copies)
            if hooked is not copies or split_inputs:
                centred = hooked - hooked.mean(-1, keepdim=True)
                normalized = centred / (centred.pow(2).mean(-1, keepdim=True) + model.eps).sqrt()
                normalized = normalized * lw.ln1[0] + lw.ln1[1]
                ports[index] = torch.stack([project_qkv(model, lw, normalized[:, :, h])[index][:, :, h]
                                            for h in range(model.n_head)], dim=2)
        q, k, v = ports
        q = hook(b + "attn.hook_q", q)
        k = hook(b + "attn.hook_k", k)
        v = hook(b + "attn.hook_v", v)
        if neox:
            q, k = rotary(model, q, k, pos)
            q = hook(b + "attn.hook_rot_q", q)
            k = hook(b + "attn.hook_rot_k", k)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * score_scale(model, layer)
        scores = scores.masked_fill(~attention_mask(model, layer, pos), float("-inf"))
        scores = hook(b + "attn.hook_attn_scores", scores)
        pattern = hook(b + "attn.hook_pattern", torch.softmax(scores, dim=-1))
        z = hook(b + "attn.hook_z", torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        result = hook(b + "attn.hook_result", torch.einsum("bqhd,hdm->bqhm", z, lw.w_o))
        attn_out = hook(b + "hook_attn_out", result.sum(dim=2) + lw.b_o)

        def mlp(stream):
            mlp_in = hook(b + "hook_mlp_in", stream.clone())  # the MLP's own copy: a change reaches only the MLP
            x = layer_norm(mlp_in, b + "ln2", *lw.ln2)
            pre = hook(b + "mlp.hook_pre", x @ lw.fc[0] + lw.fc[1])
            post = hook(b + "mlp.hook_post", activation(model, pre))
            return hook(b + "hook_mlp_out", post @ lw.proj[0] + lw.proj[1])

        if neox and model.parallel:  # x + attn(ln1(x)) + mlp(ln2(x))
            mlp_out = mlp(resid)
            resid = hook(b + "hook_resid_mid", resid + attn_out)
        else:
            resid = hook(b + "hook_resid_mid", resid + attn_out)
            mlp_out = mlp(resid)
        resid = hook(b + "hook_resid_post", resid + mlp_out)
    final = ("final_layer_norm" if neox else "ln_f")
    x = layer_norm(resid, "ln_final", w[final + ".weight"], w[final + ".bias"])
    return x @ model.unembedding.T


# ---- patches (cscrub's engine::Patch semantics) ----

# Which axis holds the head and which the (query) position, by hook suffix.
def head_and_position_axes(name):
    if name.endswith(("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z", "attn.hook_result",
                      "attn.hook_rot_q", "attn.hook_rot_k", "hook_q_input", "hook_k_input", "hook_v_input")):
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
    checks = []
    if model.family == "gpt2":
        checks.append(("logits vs torch.nn", (logits - nn_forward(model, tokens)).abs().max().item()))
    for layer in range(model.n_layer):
        b = f"blocks.{layer}."
        bias = Layer(model, layer).b_o
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
