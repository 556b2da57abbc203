#!/usr/bin/python3
"""Measures a model organism from its model directory (config.json + model.safetensors), independently of
cscrub and of the training code: the weights are read by eval_bundled_model.py's own safetensors parser
and run with a Hugging Face GPT-2 forward pass over the full 50,257-token vocabulary (attention-only
checkpoints included: n_inner = 0 gives empty MLP matrices, so each MLP adds its bias).

  - IOI on the paper's 15 templates, BABA and ABBA: share with logit(IO) > logit(S), mean logit difference;
  - induction: sequences of 20 distinct words of each pool file (the words the organism was trained to
    repeat, the held-out ones, the ones known only from sentences), repeated once: mean loss on the first
    copy (tokens 1..19) and on the repeat (tokens 21..39; the repeat's first token follows nothing seen
    before), and their ratio;
  - with --name-pairs N: every ordered pair of the vocabulary's first N names on every template, one place
    and object per template: the logit difference per pair, to show how much the names themselves matter;
  - with --hypothesis FILE: the attention of every head the file names, from the query to the key position
    its class claims (IOI: name mover END->IO, S-inhibition END->S2, induction S2->S1+1, duplicate token
    S2->S1, previous token S1+1->S1, current token S2->S2; induction task: previous token
    PREV_OCC+1->PREV_OCC, induction END->PREV_OCC+1), averaged over the prompts.

Usage: tools/eval_organism.py --model DIR [--pools FILE ...] [--hypothesis FILE] [--per-template N] [--name-pairs N]
"""
import argparse
import math
import os
import random
import sys
import tomllib

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; set before torch loads OpenBLAS
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ioi_training_grammar as grammar  # noqa: E402
from eval_bundled_model import Gpt2  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402

IOI_CLAIMS = {"name mover": ("END", "IO"), "S-inhibition": ("END", "S2"), "induction": ("S2", "S1+1"),
              "duplicate token": ("S2", "S1"), "previous token": ("S1+1", "S1"), "current token": ("S2", "S2")}
INDUCTION_CLAIMS = {"previous token": ("PREV_OCC+1", "PREV_OCC"), "induction": ("END", "PREV_OCC+1")}


class PatternRecorder(Gpt2):
    """The same forward pass, keeping every layer's attention pattern [B, H, T, T]."""

    @torch.no_grad()
    def patterns(self, idx):
        c, w = self.config, self.w
        D, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
        B, T = idx.shape
        x = w["wte.weight"][idx] + w["wpe.weight"][:T]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        result = []
        for layer in range(c["n_layer"]):
            p = f"h.{layer}."
            h = F.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in qkv.split(D, dim=2))
            pattern = (q @ k.transpose(2, 3) / math.sqrt(D // H)).masked_fill(causal, float("-inf")).softmax(-1)
            result.append(pattern)
            z = (pattern @ v).transpose(1, 2).reshape(B, T, D)
            x = x + z @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = F.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
            m = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
            x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        return result


def ioi_prompts(bpe, vocab, per_template, seed):
    """[(template index, ids, io id, s id, {label: position})] over the 30 paper templates, no BOS."""
    rng = random.Random(seed)
    prompts = []
    for k, (_, template) in enumerate(grammar.paper_templates(vocab)):
        for _ in range(per_template):
            io, s = rng.sample(vocab["names"], 2)
            text = grammar.fill(grammar.split_prompt(template), io, s, rng.choice(vocab["places"]),
                                rng.choice(vocab["objects"]))
            ids = bpe.encode(text)
            io_id, s_id = bpe.encode(" " + io)[0], bpe.encode(" " + s)[0]
            s_positions = [p for p, t in enumerate(ids) if t == s_id]
            positions = {"IO": ids.index(io_id), "S1": s_positions[0], "S1+1": s_positions[0] + 1,
                         "S2": s_positions[-1], "END": len(ids) - 1}
            prompts.append((k, ids, io_id, s_id, positions))
    return prompts


def induction_prompts(bpe, words, count, length, seed):
    """[(ids of `length` words then the same again, {label: position})]: the answer of cscrub's induction
    task at END = 2 length - 2 is the last token."""
    rng = random.Random(seed)
    ids = [bpe.encode(" " + w)[0] for w in words]
    prompts = []
    for _ in range(count):
        seq = rng.sample(ids, length)
        repeat = length - 1
        prompts.append((seq + seq, {"PREV_OCC": repeat - 1, "PREV_OCC+1": repeat, "END": 2 * length - 2}))
    return prompts


def name_pair_report(model, bpe, vocab, count, seed):
    """Every ordered (IO, S) pair of the first `count` names on each of the 30 templates: the share with
    logit(IO) > logit(S), and the weakest and strongest pairs by their mean logit difference over templates."""
    rng = random.Random(seed)
    names = vocab["names"][:count]
    ids = {name: bpe.encode(" " + name)[0] for name in names}
    pairs = [(io, s) for io in names for s in names if io != s]
    by_pair = {pair: [] for pair in pairs}
    for _, template in grammar.paper_templates(vocab):
        prompt = grammar.split_prompt(template)
        place, obj = rng.choice(vocab["places"]), rng.choice(vocab["objects"])
        for start in range(0, len(pairs), 64):
            chunk = pairs[start: start + 64]
            last = model.logits(torch.tensor([bpe.encode(grammar.fill(prompt, io, s, place, obj))
                                              for io, s in chunk]))[:, -1]
            for row, (io, s) in zip(last, chunk):
                by_pair[(io, s)].append((row[ids[io]] - row[ids[s]]).item())
    every = torch.tensor([d for diffs in by_pair.values() for d in diffs])
    means = sorted((sum(d) / len(d), pair) for pair, d in by_pair.items())
    print(f"name pairs: {len(pairs)} ordered pairs of the first {count} names x 30 templates: logit(IO) > logit(S) "
          f"{(every > 0).float().mean().item():.4f}, mean logit difference {every.mean().item():.3f}; per pair "
          f"from {means[0][0]:.2f} (IO {means[0][1][0]}, S {means[0][1][1]}) to {means[-1][0]:.2f} "
          f"(IO {means[-1][1][0]}, S {means[-1][1][1]})")


def read_classes(path):
    """{class: [(layer, head)]} of a hypothesis file's nodes, following its `extends` chain."""
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    classes = {}
    if "extends" in spec:
        classes = read_classes(os.path.join(os.path.dirname(path), spec["extends"]))
    for node in spec.get("nodes", {}).values():
        for head in node.get("heads", []):
            layer, index = (int(x) for x in head.split("."))
            classes.setdefault(node.get("class", ""), []).append((layer, index))
    return classes


def mean_attention(model, prompts, layer, head, query, key):
    total = 0.0
    by_length = {}
    for ids, positions in prompts:
        by_length.setdefault(len(ids), []).append((ids, positions))
    for group in by_length.values():
        pattern = model.patterns(torch.tensor([g[0] for g in group]))[layer][:, head]
        for b, (_, positions) in enumerate(group):
            total += pattern[b, positions[query], positions[key]].item()
    return total / len(prompts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--tokenizer-dir", default=os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini"))
    p.add_argument("--vocabulary", default=os.path.join(SOURCE_DIR, "datasets", "ioi_paper_vocabulary.toml"))
    p.add_argument("--pools", nargs="*", default=None,
                   help="induction word pools (default: datasets/induction.toml and the model's induction_*.toml)")
    p.add_argument("--hypothesis", help="check the attention of the heads this hypothesis file names")
    p.add_argument("--per-template", type=int, default=100)
    p.add_argument("--name-pairs", type=int, default=0, help="every ordered pair of the first N names, every template")
    p.add_argument("--seed", type=int, default=20221101)
    args = p.parse_args()
    torch.set_num_threads(1)
    model = PatternRecorder(args.model)
    bpe = Gpt2Bpe(args.tokenizer_dir)
    vocab = grammar.load_vocabulary(args.vocabulary)

    prompts = ioi_prompts(bpe, vocab, args.per_template, args.seed)
    diffs = []
    for k in range(30):
        group = [q for q in prompts if q[0] == k]
        last = model.logits(torch.tensor([q[1] for q in group]))[:, -1]
        for row, q in zip(last, group):
            diffs.append((row[q[2]] - row[q[3]]).item())
    d = torch.tensor(diffs)
    print(f"IOI, {len(d)} prompts of the paper's 15 templates x 2 orders (no BOS): logit(IO) > logit(S) "
          f"{(d > 0).float().mean().item():.4f}, mean logit difference {d.mean().item():.3f}")

    if args.name_pairs:
        name_pair_report(model, bpe, vocab, args.name_pairs, args.seed)

    pools = args.pools if args.pools is not None else [os.path.join(SOURCE_DIR, "datasets", "induction.toml")] + [
        os.path.join(args.model, name) for name in sorted(os.listdir(args.model))
        if name.startswith("induction_") and name.endswith(".toml")]
    for pool in pools:
        with open(pool, "rb") as f:
            words = tomllib.load(f)["words"]
        seqs = torch.tensor([ids for ids, _ in induction_prompts(bpe, words, 100, 20, args.seed)])
        logp = model.logits(seqs)[:, :-1].log_softmax(-1)
        loss = -logp.gather(2, seqs[:, 1:, None]).squeeze(2)
        first, repeat = loss[:, :19].mean().item(), loss[:, 20:].mean().item()
        print(f"induction on {os.path.basename(pool)}: loss first copy {first:.3f}, repeat {repeat:.3f}, "
              f"ratio {repeat / first:.4f}")

    if args.hypothesis:
        with open(args.hypothesis, "rb") as f:
            task = tomllib.load(f).get("defaults", {}).get("task", "ioi")
        classes = read_classes(args.hypothesis)
        if task == "ioi":
            claims, checked = IOI_CLAIMS, [(ids, positions) for _, ids, _, _, positions in prompts]
        else:
            with open(os.path.join(SOURCE_DIR, "datasets", "induction.toml"), "rb") as f:
                words = tomllib.load(f)["words"]
            claims, checked = INDUCTION_CLAIMS, induction_prompts(bpe, words, 200, 10, args.seed)
        for name, (query, key) in claims.items():
            for layer, head in classes.get(name, []):
                a = mean_attention(model, checked, layer, head, query, key)
                print(f"{name} head {layer}.{head}: attention {query} -> {key} {a:.3f} ({len(checked)} prompts)")


if __name__ == "__main__":
    main()
