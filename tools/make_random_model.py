#!/usr/bin/python3
"""Write a random model directory (config.json + model.safetensors) of a Hugging Face family, for tests.

Families: gpt2 (Conv1D weights [in, out], fused c_attn with q | k | v blocks), gpt_neo (nn.Linear weights
[out, in], separate q/k/v projections without bias, global and local attention layers, unscaled scores) and
gpt_neox (Pythia: nn.Linear, fused query_key_value grouped per head as [q_h | k_h | v_h], rotary embedding,
parallel residual, untied embed_out), with Hugging Face's config keys and tensor names.

The safetensors file is written by hand (8-byte little-endian header length, JSON header, raw data), so
no safetensors package is needed. Weights have realistic scales (layer-norm gains around 1, projections
~1/sqrt(fan_in)) so that attention patterns, GELU and logits are far from trivial.

Usage: /usr/bin/python3 tools/make_random_model.py OUT_DIR [--family gpt2|gpt_neo|gpt_neox --layers 2 --heads 4
       --d-model 64 --vocab 97 --n-ctx 32 --dtype F32|F16|BF16 --prefix --lm-head --buffers --seed 0 --n-inner N
       --activation NAME --untied --scale-by-layer --no-scale-attn --reorder-and-upcast (gpt2)
       --window W --attention-types JSON (gpt_neo) --rotary-pct P --rotary-base B --sequential
       --no-attention-bias --rope-parameters --tied (gpt_neox)]
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class Draw:
    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, std, mean=0.0):
        return torch.randn(*shape, generator=self.gen) * std + mean


def layer_norm(normal, d):
    return normal(d, std=0.1, mean=1.0), normal(d, std=0.05)


def gpt2_weights(args, normal):
    """GPT-2's tensors (Conv1D weights input-major), float32, in file order."""
    d = args.d_model
    mlp = 4 * d if args.n_inner is None else args.n_inner  # 0: attention-only (each MLP is its c_proj bias)
    tensors = {
        "wte.weight": normal(args.vocab, d, std=0.1),
        "wpe.weight": normal(args.n_ctx, d, std=0.05),
    }
    for layer in range(args.layers):
        p = f"h.{layer}."
        tensors.update({  # drawn in this order
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
    tensors["ln_f.weight"], tensors["ln_f.bias"] = layer_norm(normal, d)
    return tensors


def gpt_neo_weights(args, normal):
    """GPT-Neo's tensors (nn.Linear weights [out, in]; q/k/v without bias). Unscaled scores are large: the q and
    k projections are drawn smaller so that patterns stay far from one-hot."""
    d, mlp = args.d_model, args.n_inner or 4 * args.d_model
    tensors = {"wte.weight": normal(args.vocab, d, std=0.1), "wpe.weight": normal(args.n_ctx, d, std=0.05)}
    for layer in range(args.layers):
        p = f"h.{layer}."
        ln1, ln2 = layer_norm(normal, d), layer_norm(normal, d)
        tensors.update({
            p + "ln_1.weight": ln1[0],
            p + "ln_1.bias": ln1[1],
            p + "attn.attention.k_proj.weight": normal(d, d, std=0.5 / math.sqrt(d)),
            p + "attn.attention.v_proj.weight": normal(d, d, std=1.0 / math.sqrt(d)),
            p + "attn.attention.q_proj.weight": normal(d, d, std=0.5 / math.sqrt(d)),
            p + "attn.attention.out_proj.weight": normal(d, d, std=0.5 / math.sqrt(d)),
            p + "attn.attention.out_proj.bias": normal(d, std=0.02),
            p + "ln_2.weight": ln2[0],
            p + "ln_2.bias": ln2[1],
            p + "mlp.c_fc.weight": normal(mlp, d, std=1.0 / math.sqrt(d)),
            p + "mlp.c_fc.bias": normal(mlp, std=0.1),
            p + "mlp.c_proj.weight": normal(d, mlp, std=0.5 / math.sqrt(mlp)),
            p + "mlp.c_proj.bias": normal(d, std=0.02),
        })
    tensors["ln_f.weight"], tensors["ln_f.bias"] = layer_norm(normal, d)
    return tensors


def gpt_neox_weights(args, normal):
    """GPT-NeoX's tensors (nn.Linear; fused query_key_value rows grouped per head), without the gpt_neox. prefix."""
    d, mlp = args.d_model, args.n_inner or 4 * args.d_model
    tensors = {"embed_in.weight": normal(args.vocab, d, std=0.1)}
    for layer in range(args.layers):
        p = f"layers.{layer}."
        ln1, ln2 = layer_norm(normal, d), layer_norm(normal, d)
        tensors[p + "input_layernorm.weight"], tensors[p + "input_layernorm.bias"] = ln1
        tensors[p + "post_attention_layernorm.weight"], tensors[p + "post_attention_layernorm.bias"] = ln2
        tensors[p + "attention.query_key_value.weight"] = normal(3 * d, d, std=1.0 / math.sqrt(d))
        if not args.no_attention_bias:
            tensors[p + "attention.query_key_value.bias"] = normal(3 * d, std=0.1)
        tensors[p + "attention.dense.weight"] = normal(d, d, std=0.5 / math.sqrt(d))
        if not args.no_attention_bias:
            tensors[p + "attention.dense.bias"] = normal(d, std=0.02)
        tensors[p + "mlp.dense_h_to_4h.weight"] = normal(mlp, d, std=1.0 / math.sqrt(d))
        tensors[p + "mlp.dense_h_to_4h.bias"] = normal(mlp, std=0.1)
        tensors[p + "mlp.dense_4h_to_h.weight"] = normal(d, mlp, std=0.5 / math.sqrt(mlp))
        tensors[p + "mlp.dense_4h_to_h.bias"] = normal(d, std=0.02)
    tensors["final_layer_norm.weight"], tensors["final_layer_norm.bias"] = layer_norm(normal, d)
    return tensors


def config_of(args):
    """config.json as Hugging Face writes it for the family."""
    if args.family == "gpt2":
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
            "activation_function": args.activation or "gelu_new",
        }
        if args.scale_by_layer:
            config["scale_attn_by_inverse_layer_idx"] = True
        if args.reorder_and_upcast:
            config["reorder_and_upcast_attn"] = True
        if args.no_scale_attn:
            config["scale_attn_weights"] = False
    elif args.family == "gpt_neo":
        types = json.loads(args.attention_types) if args.attention_types else [[["global", "local"], args.layers // 2]]
        layers = [t for kinds, repeat in types for _ in range(repeat) for t in kinds]
        config = {
            "model_type": "gpt_neo",
            "architectures": ["GPTNeoForCausalLM"],
            "num_layers": args.layers,
            "num_heads": args.heads,
            "hidden_size": args.d_model,
            "max_position_embeddings": args.n_ctx,
            "vocab_size": args.vocab,
            "intermediate_size": args.n_inner,
            "attention_types": types,
            "attention_layers": layers,
            "window_size": args.window,
            "layer_norm_epsilon": 1e-5,
            "activation_function": args.activation or "gelu_new",
        }
    else:
        config = {
            "model_type": "gpt_neox",
            "architectures": ["GPTNeoXForCausalLM"],
            "num_hidden_layers": args.layers,
            "num_attention_heads": args.heads,
            "hidden_size": args.d_model,
            "intermediate_size": args.n_inner or 4 * args.d_model,
            "max_position_embeddings": args.n_ctx,
            "vocab_size": args.vocab,
            "layer_norm_eps": 1e-5,
            "hidden_act": args.activation or "gelu",
            "use_parallel_residual": not args.sequential,
            "tie_word_embeddings": not args.untied,
        }
        if args.rope_parameters:  # transformers 5's spelling
            config["rope_parameters"] = {"rope_type": "default", "rope_theta": args.rotary_base,
                                         "partial_rotary_factor": args.rotary_pct}
        else:
            config["rotary_pct"] = args.rotary_pct
            config["rotary_emb_base"] = args.rotary_base
        if args.no_attention_bias:
            config["attention_bias"] = False
    if args.untied:
        config["tie_word_embeddings"] = False
    return config


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
    parser.add_argument("--family", choices=["gpt2", "gpt_neo", "gpt_neox"], default="gpt2")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=97)
    parser.add_argument("--n-ctx", type=int, default=32)
    parser.add_argument("--n-inner", type=int, default=None, help="MLP width (default 4 * d_model, written as null; 0: attention-only)")
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPES), default="F32")
    parser.add_argument("--prefix", action="store_true", help="name tensors transformer.* (gpt_neox: gpt_neox.*)")
    parser.add_argument("--lm-head", action="store_true", help="also store the tied unembedding (lm_head.weight)")
    parser.add_argument("--buffers", action="store_true", help="also store the attention mask buffers (and inv_freq)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--activation", help="activation_function / hidden_act (default: the family's)")
    parser.add_argument("--untied", action="store_true", help="a separate unembedding (lm_head; gpt_neox's default)")
    parser.add_argument("--tied", action="store_true", help="gpt_neox: tie_word_embeddings true (no embed_out)")
    parser.add_argument("--scale-by-layer", action="store_true", help="gpt2: scale_attn_by_inverse_layer_idx")
    parser.add_argument("--reorder-and-upcast", action="store_true", help="gpt2: reorder_and_upcast_attn")
    parser.add_argument("--no-scale-attn", action="store_true", help="gpt2: scale_attn_weights false")
    parser.add_argument("--window", type=int, default=4, help="gpt_neo: window_size")
    parser.add_argument("--attention-types", help="gpt_neo: attention_types as JSON")
    parser.add_argument("--rotary-pct", type=float, default=0.25, help="gpt_neox: rotary_pct")
    parser.add_argument("--rotary-base", type=float, default=10000, help="gpt_neox: rotary_emb_base")
    parser.add_argument("--rope-parameters", action="store_true", help="gpt_neox: write rope_parameters instead")
    parser.add_argument("--sequential", action="store_true", help="gpt_neox: use_parallel_residual false")
    parser.add_argument("--no-attention-bias", action="store_true", help="gpt_neox: attention_bias false")
    args = parser.parse_args()
    if args.d_model % args.heads:
        sys.exit("--d-model must be divisible by --heads")
    if args.n_inner == 0 and args.family != "gpt2":
        sys.exit("--n-inner 0 (attention-only) is a GPT-2 config only (cscrub refuses intermediate_size 0)")
    args.untied = args.untied or (args.family == "gpt_neox" and not args.tied)

    os.makedirs(args.out_dir, exist_ok=True)
    config = config_of(args)
    with open(os.path.join(args.out_dir, "config.json"), "w") as out:
        json.dump(config, out, indent=2)

    normal = Draw(args.seed)
    make = {"gpt2": gpt2_weights, "gpt_neo": gpt_neo_weights, "gpt_neox": gpt_neox_weights}[args.family]
    tensors = make(args, normal)
    neox = args.family == "gpt_neox"
    if args.untied:
        tensors["embed_out.weight" if neox else "lm_head.weight"] = normal(args.vocab, args.d_model, std=0.1)
    prefix = ("gpt_neox." if neox else "transformer.") if args.prefix else ""
    torch_dtype = TORCH_DTYPES[args.dtype]
    unembedding = ("embed_out.weight", "lm_head.weight")  # the LM head's own tensors carry no prefix
    named = [((name if name in unembedding else prefix + name), args.dtype, t.to(torch_dtype)) for name, t in tensors.items()]
    if args.lm_head and not args.untied:
        named.append(("embed_out.weight" if neox else "lm_head.weight", args.dtype, named[0][2].clone()))
    if args.buffers:  # as old Hugging Face checkpoints carry them: a causal mask and a scalar (and NeoX's frequencies)
        mask = torch.tril(torch.ones(args.n_ctx, args.n_ctx, dtype=torch.uint8)).view(1, 1, args.n_ctx, args.n_ctx)
        attention = {"gpt2": "h.{}.attn.", "gpt_neo": "h.{}.attn.attention.", "gpt_neox": "layers.{}.attention."}[args.family]
        for layer in range(args.layers):
            named.append((prefix + attention.format(layer) + "bias", "BOOL" if neox else "U8", mask))
            named.append((prefix + attention.format(layer) + "masked_bias", "F32", torch.tensor(-1e4)))
            if neox:
                dims = int(args.d_model // args.heads * args.rotary_pct)
                inv_freq = 1.0 / (args.rotary_base ** (torch.arange(0, dims, 2).float() / dims))
                named.append((prefix + attention.format(layer) + "rotary_emb.inv_freq", "F32", inv_freq))
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), named)


if __name__ == "__main__":
    main()
