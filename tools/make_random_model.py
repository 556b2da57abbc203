#!/usr/bin/python3
"""Write a random GPT-2 model directory (config.json + model.safetensors) for tests.

The safetensors file is written by hand (8-byte little-endian header length, JSON header, raw data), so
no safetensors package is needed. Weights have realistic scales (layer-norm gains around 1, projections
~1/sqrt(fan_in)) so that attention patterns, GELU and logits are far from trivial.

Usage: /usr/bin/python3 tools/make_random_model.py OUT_DIR [--layers 2 --heads 4 --d-model 64 --vocab 97
       --n-ctx 32 --dtype F32|F16|BF16 --prefix --lm-head --buffers --seed 0 --n-inner N]
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def random_weights(args):
    """GPT-2's tensors in Hugging Face layout (Conv1D weights input-major), float32, in file order."""
    gen = torch.Generator().manual_seed(args.seed)
    d = args.d_model
    mlp = 4 * d if args.n_inner is None else args.n_inner  # 0: attention-only (each MLP is its c_proj bias)

    def normal(*shape, std, mean=0.0):
        return torch.randn(*shape, generator=gen) * std + mean

    tensors = {
        "wte.weight": normal(args.vocab, d, std=0.1),
        "wpe.weight": normal(args.n_ctx, d, std=0.05),
    }
    for layer in range(args.layers):
        p = f"h.{layer}."
        tensors.update({
            p + "ln_1.weight": normal(d, std=0.1, mean=1.0),
            p + "ln_1.bias": normal(d, std=0.05),
            p + "attn.c_attn.weight": normal(d, 3 * d, std=1.0 / math.sqrt(d)),
            p + "attn.c_attn.bias": normal(3 * d, std=0.1),
            p + "attn.c_proj.weight": normal(d, d, std=0.5 / math.sqrt(d)),
            p + "attn.c_proj.bias": normal(d, std=0.02),
            p + "ln_2.weight": normal(d, std=0.1, mean=1.0),
            p + "ln_2.bias": normal(d, std=0.05),
            p + "mlp.c_fc.weight": normal(d, mlp, std=1.0 / math.sqrt(d)),
            p + "mlp.c_fc.bias": normal(mlp, std=0.1),
            p + "mlp.c_proj.weight": normal(mlp, d, std=0.5 / math.sqrt(max(mlp, 1))),
            p + "mlp.c_proj.bias": normal(d, std=0.02),
        })
    tensors["ln_f.weight"] = normal(d, std=0.1, mean=1.0)
    tensors["ln_f.bias"] = normal(d, std=0.05)
    return tensors


def tensor_bytes(tensor):
    """Raw little-endian bytes of a contiguous tensor (bfloat16 has no numpy dtype: view it as int16)."""
    tensor = tensor.contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().tobytes()
    return tensor.numpy().tobytes()


def write_safetensors(path, named):
    """named: list of (name, dtype string, tensor already in that dtype)."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, tensor in named:
        data = tensor_bytes(tensor)
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for chunk in chunks:
            out.write(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=97)
    parser.add_argument("--n-ctx", type=int, default=32)
    parser.add_argument("--n-inner", type=int, default=None, help="MLP width (default 4 * d_model, written as null; 0: attention-only)")
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPES), default="F32")
    parser.add_argument("--prefix", action="store_true", help="name tensors transformer.*")
    parser.add_argument("--lm-head", action="store_true", help="also store lm_head.weight (tied to wte)")
    parser.add_argument("--buffers", action="store_true", help="also store h.L.attn.bias / attn.masked_bias")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.d_model % args.heads:
        sys.exit("--d-model must be divisible by --heads")

    os.makedirs(args.out_dir, exist_ok=True)
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "n_layer": args.layers,
        "n_head": args.heads,
        "n_embd": args.d_model,
        "n_ctx": args.n_ctx,
        "n_positions": args.n_ctx,
        "vocab_size": args.vocab,
        "n_inner": args.n_inner,
        "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
    }
    with open(os.path.join(args.out_dir, "config.json"), "w") as out:
        json.dump(config, out, indent=2)

    prefix = "transformer." if args.prefix else ""
    torch_dtype = TORCH_DTYPES[args.dtype]
    named = [(prefix + name, args.dtype, t.to(torch_dtype)) for name, t in random_weights(args).items()]
    if args.lm_head:
        named.append(("lm_head.weight", args.dtype, named[0][2].clone()))
    if args.buffers:  # as old Hugging Face checkpoints carry them: a causal mask and a scalar
        mask = torch.tril(torch.ones(args.n_ctx, args.n_ctx, dtype=torch.uint8)).view(1, 1, args.n_ctx, args.n_ctx)
        for layer in range(args.layers):
            named.append((f"{prefix}h.{layer}.attn.bias", "U8", mask))
            named.append((f"{prefix}h.{layer}.attn.masked_bias", "F32", torch.tensor(-1e4)))
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), named)


if __name__ == "__main__":
    main()
