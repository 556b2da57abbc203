"""The model, training loop pieces and export shared by cscrub's model organisms (tools/train_*_organism.py).

A small GPT-2 (learned positions initialised with a sin/cos table, pre-LN blocks, tied unembedding, Hugging
Face biases), optionally attention-only (d_mlp = 0: exported with n_inner = 0, which makes every MLP of
the Hugging Face model a constant bias, here zero).

Only the tokens the training data uses ("used" ids) get their own embedding rows; every other id of the
50,257 shares one learned row, the sink. During training the sink is one extra softmax class whose logit
carries + log(#unused), so the training softmax over the used ids and the sink is exactly the full
50,257-way softmax of the exported model. The exported wte holds the sink vector in every unused row.

Determinism: one torch thread, fixed seeds, all data from Python's random.Random(seed).
"""
import hashlib
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

VOCAB_SIZE = 50257
EOT = 50256


def sinusoidal_positions(n_positions, d_model, rms):
    """The Transformer's sin/cos table scaled to RMS `rms`: every position starts with a shared relative
    structure, which a previous-token head can use from the first steps. Still trained and exported as
    GPT-2's learned wpe."""
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    table = torch.zeros(n_positions, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table * (rms * math.sqrt(2.0))  # sin/cos have RMS 1/sqrt(2)


class OrganismGpt2(torch.nn.Module):
    """GPT-2 with parameters laid out as Hugging Face stores them (Conv1D weights input-major)."""

    def __init__(self, n_used, n_unused, n_layer, n_head, d_model, n_positions, d_mlp, init_std=0.02):
        super().__init__()
        self.n_head = n_head
        self.d_mlp = d_mlp
        self.log_n_unused = math.log(n_unused)
        P = torch.nn.Parameter
        D = d_model
        self.emb = P(torch.randn(n_used, D) * 0.02)
        self.sink = P(torch.randn(D) * 0.02)
        self.wpe = P(sinusoidal_positions(n_positions, D, rms=0.02))
        residual_std = init_std / math.sqrt(2 * n_layer)
        self.blocks = torch.nn.ModuleList()
        for _ in range(n_layer):
            b = torch.nn.Module()
            b.ln_1_w, b.ln_1_b = P(torch.ones(D)), P(torch.zeros(D))
            b.c_attn_w, b.c_attn_b = P(torch.randn(D, 3 * D) * init_std), P(torch.zeros(3 * D))
            b.attn_proj_w, b.attn_proj_b = P(torch.randn(D, D) * residual_std), P(torch.zeros(D))
            if d_mlp > 0:
                b.ln_2_w, b.ln_2_b = P(torch.ones(D)), P(torch.zeros(D))
                b.c_fc_w, b.c_fc_b = P(torch.randn(D, d_mlp) * init_std), P(torch.zeros(d_mlp))
                b.mlp_proj_w, b.mlp_proj_b = P(torch.randn(d_mlp, D) * residual_std), P(torch.zeros(D))
            self.blocks.append(b)
        self.ln_f_w, self.ln_f_b = P(torch.ones(D)), P(torch.zeros(D))
        self.eps = 1e-5

    def hidden(self, idx, patterns=None, parts=None):
        """ln_f output [B, T, D] for compact token indices idx [B, T]; appends each layer's attention
        pattern [B, H, T, T] to `patterns` if given; if `parts` (a dict) is given, sets parts["heads"] to
        each layer's per-head outputs [B, H, T, D] (without the output bias) and parts["final"] to the
        residual stream before ln_f."""
        B, T = idx.shape
        D = self.emb.shape[1]
        H = self.n_head
        x = self.emb[idx] + self.wpe[:T]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        for b in self.blocks:
            h = F.layer_norm(x, (D,), b.ln_1_w, b.ln_1_b, self.eps)
            q, k, v = (h @ b.c_attn_w + b.c_attn_b).split(D, dim=2)
            q, k, v = (t.view(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))
            scores = (q @ k.transpose(2, 3)) / math.sqrt(D // H)
            pattern = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
            if patterns is not None:
                patterns.append(pattern.detach())
            if parts is not None:
                per_head = torch.einsum("bhtd,hde->bhte", pattern @ v, b.attn_proj_w.view(H, D // H, D))
                parts.setdefault("heads", []).append(per_head)
            z = (pattern @ v).transpose(1, 2).reshape(B, T, D)
            x = x + z @ b.attn_proj_w + b.attn_proj_b
            if self.d_mlp > 0:
                h = F.layer_norm(x, (D,), b.ln_2_w, b.ln_2_b, self.eps)
                x = x + F.gelu(h @ b.c_fc_w + b.c_fc_b, approximate="tanh") @ b.mlp_proj_w + b.mlp_proj_b
        if parts is not None:
            parts["final"] = x
        return F.layer_norm(x, (D,), self.ln_f_w, self.ln_f_b, self.eps)

    def logits(self, h):
        """[..., n_used + 1]: the used tokens' logits, then the unused tokens' shared logit plus
        log(#unused), so that softmax over these equals the exported model's full-vocabulary softmax."""
        return torch.cat([h @ self.emb.T, (h @ self.sink).unsqueeze(-1) + self.log_n_unused], dim=-1)


class Vocabulary:
    """The used GPT-2 ids and their compact indices (the model's embedding rows)."""

    def __init__(self, used_ids):
        self.used_ids = sorted(set(used_ids))
        self.compact = {t: i for i, t in enumerate(self.used_ids)}
        self.n_unused = VOCAB_SIZE - len(self.used_ids)

    def to_compact(self, ids):
        try:
            return [self.compact[t] for t in ids]
        except KeyError as e:
            raise ValueError(f"token {e.args[0]} is not in the used set") from None

    def pad(self, sequences):
        """(idx [B, T] compact ids, mask [B, T]: True where position t's next token t+1 is a target)."""
        T = max(len(s) for s in sequences)
        idx = torch.zeros(len(sequences), T, dtype=torch.long)
        mask = torch.zeros(len(sequences), T, dtype=torch.bool)
        for i, s in enumerate(sequences):
            idx[i, : len(s)] = torch.tensor(self.to_compact(s))
            mask[i, : len(s) - 1] = True
        return idx, mask


def next_token_loss(model, idx, mask):
    h = model.hidden(idx)
    targets = idx[:, 1:][mask[:, :-1]]
    return F.cross_entropy(model.logits(h[mask]), targets)


def make_optimizer(model, lr, weight_decay):
    """AdamW with weight decay on the block matrices only (not embeddings, positions, gains or biases)."""
    def decays(name, p):
        return p.dim() == 2 and name not in ("emb", "wpe")
    decay = [p for n, p in model.named_parameters() if decays(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not decays(n, p)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))


def cosine_lr(step, lr, warmup, steps):
    """Linear warmup, then cosine decay to a tenth of lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------------------------- export

def export_tensors(model, vocabulary):
    """{HF name: float32 tensor}, the full 50,257-row wte (unused rows = the sink vector); attention-only
    models get Hugging Face's empty MLP matrices ([D, 0], [0], [0, D]) and a zero c_proj bias."""
    D = model.emb.shape[1]
    with torch.no_grad():
        wte = model.sink.detach().clone().expand(VOCAB_SIZE, -1).contiguous()
        wte[torch.tensor(vocabulary.used_ids)] = model.emb.detach()
        T = {"wte.weight": wte, "wpe.weight": model.wpe.detach()}
        for l, b in enumerate(model.blocks):
            p = f"h.{l}."
            T[p + "ln_1.weight"], T[p + "ln_1.bias"] = b.ln_1_w, b.ln_1_b
            T[p + "attn.c_attn.weight"], T[p + "attn.c_attn.bias"] = b.c_attn_w, b.c_attn_b
            T[p + "attn.c_proj.weight"], T[p + "attn.c_proj.bias"] = b.attn_proj_w, b.attn_proj_b
            if model.d_mlp > 0:
                T[p + "ln_2.weight"], T[p + "ln_2.bias"] = b.ln_2_w, b.ln_2_b
                T[p + "mlp.c_fc.weight"], T[p + "mlp.c_fc.bias"] = b.c_fc_w, b.c_fc_b
                T[p + "mlp.c_proj.weight"], T[p + "mlp.c_proj.bias"] = b.mlp_proj_w, b.mlp_proj_b
            else:
                # ln_2 feeds nothing when n_inner = 0; Hugging Face still stores it (as initialised).
                T[p + "ln_2.weight"], T[p + "ln_2.bias"] = torch.ones(D), torch.zeros(D)
                T[p + "mlp.c_fc.weight"], T[p + "mlp.c_fc.bias"] = torch.zeros(D, 0), torch.zeros(0)
                T[p + "mlp.c_proj.weight"], T[p + "mlp.c_proj.bias"] = torch.zeros(0, D), torch.zeros(D)
        T["ln_f.weight"], T["ln_f.bias"] = model.ln_f_w, model.ln_f_b
        return {k: v.detach().float().contiguous() for k, v in T.items()}


def safetensors_bytes(tensors, metadata):
    """safetensors by hand: u64 LE header length, JSON header (padded to 8 bytes), raw little-endian F32."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        raw = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs)


def config_json(n_layer, n_head, d_model, n_positions, d_mlp):
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "activation_function": "gelu_new",
        "n_layer": n_layer,
        "n_head": n_head,
        "n_embd": d_model,
        "n_positions": n_positions,
        "n_ctx": n_positions,
        # 0: attention-only (Hugging Face builds [D, 0] MLP matrices: each MLP adds only its c_proj bias).
        "n_inner": d_mlp,
        "vocab_size": VOCAB_SIZE,
        "layer_norm_epsilon": 1e-5,
        "bos_token_id": EOT,
        "eos_token_id": EOT,
        "initializer_range": 0.02,
        "attn_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "resid_pdrop": 0.0,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def export_model(out_dir, model, vocabulary, n_positions, metadata):
    """Writes config.json and model.safetensors; returns (path, size, sha256) of the safetensors file."""
    os.makedirs(out_dir, exist_ok=True)
    D = model.emb.shape[1]
    data = safetensors_bytes(export_tensors(model, vocabulary), metadata)
    model_path = os.path.join(out_dir, "model.safetensors")
    write_atomically(model_path, data)
    write_atomically(os.path.join(out_dir, "config.json"),
                     config_json(len(model.blocks), model.n_head, D, n_positions, model.d_mlp))
    return model_path, len(data), hashlib.sha256(data).hexdigest()
