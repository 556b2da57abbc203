#!/usr/bin/python3
"""Measures the bundled model's targets from its model directory (config.json + model.safetensors).

Independent of the training code's model class: the weights are read from the file with this script's own
safetensors parser and run with a Hugging Face GPT-2 forward pass over the full 50,257-token vocabulary.
  - IOI on the paper's 15 templates, BABA and ABBA (names, places, objects drawn from the paper's
    vocabulary; prompt = template up to before the final " [A]"): share of prompts with logit(IO) > logit(S),
    mean logit(IO) - logit(S), share where IO is the top-1 token of the whole vocabulary; per template too.
  - Induction: n random distinct ids from [INDUCTION_LOW, INDUCTION_HIGH) repeated once: mean loss on the
    first copy (tokens 1..n-1) and on the repeated copy (tokens n..2n-1), and their ratio.

Usage: tools/eval_bundled_model.py [--model DIR] [--per-template N] [--seed S] [--bos]
"""
import argparse
import json
import math
import os
import random
import struct
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; set before torch loads OpenBLAS
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ioi_training_grammar as grammar  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402
from train_bundled_model import EOT, INDUCTION_HIGH, INDUCTION_LOW  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8: 8 + n])
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": "<f4", "F16": "<f2"}[info["dtype"]]
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"]).astype(np.float32)
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


class Gpt2:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"))

    @torch.no_grad()
    def logits(self, idx):
        """Full-vocabulary logits [B, T, V] for GPT-2 ids idx [B, T]."""
        c, w = self.config, self.w
        D, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
        B, T = idx.shape
        x = w["wte.weight"][idx] + w["wpe.weight"][:T]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        for l in range(c["n_layer"]):
            p = f"h.{l}."
            h = F.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in qkv.split(D, dim=2))
            scores = (q @ k.transpose(2, 3) / math.sqrt(D // H)).masked_fill(causal, float("-inf"))
            z = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
            x = x + z @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = F.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
            m = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
            x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (D,), w["ln_f.weight"], w["ln_f.bias"], eps)
        return x @ w["wte.weight"].T


def ioi_report(model, bpe, vocab, per_template, seed, bos):
    rng = random.Random(seed)
    rows = []
    for k, (order, template) in enumerate(grammar.paper_templates(vocab)):
        prompt_template = grammar.split_prompt(template)
        prompts = []
        for _ in range(per_template):
            io, s = rng.sample(vocab["names"], 2)
            text = grammar.fill(prompt_template, io, s, rng.choice(vocab["places"]), rng.choice(vocab["objects"]))
            prompts.append((([EOT] if bos else []) + bpe.encode(text), bpe.encode(" " + io)[0], bpe.encode(" " + s)[0]))
        # Prompts of one template have one length (names, places and objects are single tokens).
        idx = torch.tensor([p[0] for p in prompts])
        last = model.logits(idx)[:, -1]
        io = torch.tensor([p[1] for p in prompts])
        s = torch.tensor([p[2] for p in prompts])
        diff = last.gather(1, io[:, None]).squeeze(1) - last.gather(1, s[:, None]).squeeze(1)
        top1 = last.argmax(-1) == io
        rows.append((k, order, template, diff, top1))
    diffs = torch.cat([r[3] for r in rows])
    top1 = torch.cat([r[4] for r in rows])
    print(f"IOI ({'with' if bos else 'without'} BOS), {len(diffs)} prompts on the paper's 15 templates x 2 orders:")
    print(f"  logit(IO) > logit(S): {(diffs > 0).float().mean().item():.4f}   mean logit diff: "
          f"{diffs.mean().item():.3f}   IO top-1 of all 50257: {top1.float().mean().item():.4f}")
    for order in ("BABA", "ABBA"):
        d = torch.cat([r[3] for r in rows if r[1] == order])
        print(f"  {order}: accuracy {(d > 0).float().mean().item():.4f}  mean diff {d.mean().item():.3f}")
    for k, order, template, d, t1 in rows:
        print(f"  [{k:2d}] {order} acc {(d > 0).float().mean().item():.3f} diff {d.mean().item():6.2f} "
              f"top1 {t1.float().mean().item():.3f}  {template}")
    return (diffs > 0).float().mean().item(), diffs.mean().item()


def induction_report(model, seed, count, n, bos):
    rng = random.Random(seed)
    seqs = [rng.sample(range(INDUCTION_LOW, INDUCTION_HIGH), n) for _ in range(count)]
    prefix = [EOT] if bos else []
    idx = torch.tensor([prefix + s + s for s in seqs])
    logp = model.logits(idx)[:, :-1].log_softmax(-1)
    loss = -logp.gather(2, idx[:, 1:, None]).squeeze(2)
    o = len(prefix)
    first = loss[:, o: o + n - 1].mean().item()  # predicting tokens 1..n-1 of the first copy
    repeat = loss[:, o + n - 1:].mean().item()  # predicting the n tokens of the repeated copy
    print(f"induction ({'with' if bos else 'without'} BOS), {count} sequences of {n} ids in "
          f"[{INDUCTION_LOW}, {INDUCTION_HIGH}) repeated: loss first copy {first:.3f}, repeated copy {repeat:.3f}, "
          f"ratio {repeat / first:.4f}")
    return first, repeat


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini"))
    p.add_argument("--tokenizer-dir", default=None, help="default: the model directory")
    p.add_argument("--vocabulary", default=os.path.join(SOURCE_DIR, "datasets", "ioi_paper_vocabulary.toml"))
    p.add_argument("--per-template", type=int, default=100)
    p.add_argument("--seed", type=int, default=20221101)
    p.add_argument("--bos", action="store_true", help="prepend <|endoftext|> to every prompt")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = Gpt2(args.model)
    bpe = Gpt2Bpe(args.tokenizer_dir or args.model)
    vocab = grammar.load_vocabulary(args.vocabulary)
    ioi_report(model, bpe, vocab, args.per_template, args.seed, args.bos)
    for n in (10, 20, 40):
        induction_report(model, args.seed + n, 100, n, args.bos)


if __name__ == "__main__":
    main()
