#!/usr/bin/python3
"""Trains cscrub's induction organism (models/attn-only-2l-induction): a 2-layer attention-only GPT-2
(config.json n_inner = 0) whose only skill is induction: a previous-token head in layer 0, induction heads in
layer 1 that find the earlier occurrence of the current token through their keys and copy the token after it.

Why it generalises to tokens it never saw repeat:
  - the token embeddings (tied with the unembedding) are FIXED random vectors, one per GPT-2 id, never
    trained: no token has an embedding of its own to memorise with, so a held-out token differs from a trained
    one only in never having been seen, and the model must learn a copying map valid for any vector;
  - the training sequences are random tokens from ~47,000 ids (far more than 128 dimensions could memorise):
    some filler, then a random segment repeated back to back ("repeating" layout, the default) or once after
    a gap ("gapped");
  - two pools of single-token words are set aside: HELD-OUT words never occur in training at all;
    CONTEXT-ONLY words occur in training, but only once per sequence, in the random filler, never repeated.
    Both are written next to the model as cscrub induction task files, with a pool of trained words.

What made the circuit form (models/attn-only-2l-induction/README.md tells the failed runs): ln_f's gains
start at +1 and -1 alternately (see AttentionOnly), the loss weighs the predictable tokens 20 times more than
the others, and the softmax pays for every token of the context.

The training softmax is a sampled one: each position's target against every id of the batch, exactly (so
that boosting every token of the context costs what it should), and 2,048 other ids drawn per step (held-out
ids excluded) whose logits carry + log(#ids not in the batch / #drawn), an estimate of the rest of the
full-vocabulary softmax the exported model computes. Evaluations use the full vocabulary.

Determinism: one torch thread, one OpenBLAS thread, every random draw from the seed.

Usage: nice tools/train_induction_organism.py [--out DIR] [--steps N] ...
"""
import argparse
import hashlib
import math
import os
import random
import re
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; set before torch loads OpenBLAS
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import organism_model as om  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(SOURCE_DIR, "models", "attn-only-2l-induction"))
    p.add_argument("--tokenizer-dir", default=os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini"))
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=64, help="tokens per training sequence")
    p.add_argument("--layout", choices=("gapped", "repeating"), default="repeating",
                   help="gapped: one segment, a gap, one copy; repeating: a segment repeated back to back")
    p.add_argument("--min-period", type=int, default=2,
                   help="shortest repeated segment (2: 'a b a b ...', which a previous-token head alone predicts)")
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--n-positions", type=int, default=128)
    p.add_argument("--embedding-std", type=float, default=0.1, help="std of the fixed random token embeddings")
    p.add_argument("--position-rms", type=float, default=0.1, help="RMS of the initial (learned) positions")
    p.add_argument("--held-out", type=int, default=2000, help="words never in training")
    p.add_argument("--context-only", type=int, default=1000, help="words in training only unrepeated")
    p.add_argument("--negatives", type=int, default=2048, help="sampled ids per step of the training softmax")
    p.add_argument("--other-weight", type=float, default=0.05,
                   help="loss weight of the unpredictable next tokens (the copy's are 1)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    return p.parse_args()


class AttentionOnly(torch.nn.Module):
    """GPT-2 without MLPs, its parameters laid out as Hugging Face stores them (Conv1D weights input-major);
    the token embedding `wte` is a fixed buffer."""

    def __init__(self, wte, n_layer, n_head, n_positions, position_rms):
        super().__init__()
        D = wte.shape[1]
        self.n_head = n_head
        self.register_buffer("wte", wte)
        P = torch.nn.Parameter
        self.wpe = P(om.sinusoidal_positions(n_positions, D, rms=position_rms))
        self.blocks = torch.nn.ModuleList()
        for _ in range(n_layer):
            b = torch.nn.Module()
            b.ln_1_w, b.ln_1_b = P(torch.ones(D)), P(torch.zeros(D))
            b.c_attn_w, b.c_attn_b = P(torch.randn(D, 3 * D) * 0.02), P(torch.zeros(3 * D))
            b.attn_proj_w, b.attn_proj_b = P(torch.randn(D, D) * 0.02 / (2 * n_layer) ** 0.5), P(torch.zeros(D))
            self.blocks.append(b)
        # ln_f's gains start at +1 and -1 alternately: with tied embeddings a token's own embedding, left in the
        # residual stream, would otherwise give that token a large logit (ln_f(x) . e_t ~ |e_t|^2), and the
        # model spends its layer-0 heads on cancelling it (attending to the current token) instead of
        # building a previous-token head. With mixed signs that self-term averages out; copying through
        # attention then writes sign(gain) * e instead of e, which is just as easy a linear map.
        signs = torch.ones(D)
        signs[1::2] = -1.0
        self.ln_f_w, self.ln_f_b = P(signs), P(torch.zeros(D))

    def hidden(self, ids, patterns=None):
        B, T = ids.shape
        D, H = self.wte.shape[1], self.n_head
        x = self.wte[ids] + self.wpe[:T]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        for b in self.blocks:
            h = F.layer_norm(x, (D,), b.ln_1_w, b.ln_1_b, 1e-5)
            q, k, v = (t.view(B, T, H, D // H).transpose(1, 2) for t in (h @ b.c_attn_w + b.c_attn_b).split(D, 2))
            pattern = ((q @ k.transpose(2, 3)) / (D // H) ** 0.5).masked_fill(causal, float("-inf")).softmax(-1)
            if patterns is not None:
                patterns.append(pattern.detach())
            x = x + (pattern @ v).transpose(1, 2).reshape(B, T, D) @ b.attn_proj_w + b.attn_proj_b
        return F.layer_norm(x, (D,), self.ln_f_w, self.ln_f_b, 1e-5)

    def export_tensors(self):
        D = self.wte.shape[1]
        T = {"wte.weight": self.wte, "wpe.weight": self.wpe}
        for l, b in enumerate(self.blocks):
            p = f"h.{l}."
            T[p + "ln_1.weight"], T[p + "ln_1.bias"] = b.ln_1_w, b.ln_1_b
            T[p + "attn.c_attn.weight"], T[p + "attn.c_attn.bias"] = b.c_attn_w, b.c_attn_b
            T[p + "attn.c_proj.weight"], T[p + "attn.c_proj.bias"] = b.attn_proj_w, b.attn_proj_b
            # n_inner = 0: Hugging Face's empty MLP matrices; ln_2 feeds nothing but is stored as initialised.
            T[p + "ln_2.weight"], T[p + "ln_2.bias"] = torch.ones(D), torch.zeros(D)
            T[p + "mlp.c_fc.weight"], T[p + "mlp.c_fc.bias"] = torch.zeros(D, 0), torch.zeros(0)
            T[p + "mlp.c_proj.weight"], T[p + "mlp.c_proj.bias"] = torch.zeros(0, D), torch.zeros(D)
        T["ln_f.weight"], T["ln_f.bias"] = self.ln_f_w, self.ln_f_b
        return {k: v.detach().float().contiguous() for k, v in T.items()}


class Pools:
    """Token ids by role: held-out and context-only words (single-token ' [a-z]{3,}' words, drawn by the
    seed), and the trained ids (every other id but <|endoftext|>), of which `trained_words` are as many
    single-token words as there are held-out ones."""

    def __init__(self, bpe, seed, held_out, context_only):
        words = sorted(i for s, i in bpe.encoder.items() if re.fullmatch("\u0120[a-z]{3,}", s))
        random.Random(seed).shuffle(words)
        self.held_out = sorted(words[:held_out])
        self.context_only = sorted(words[held_out: held_out + context_only])
        self.trained_words = sorted(words[held_out + context_only: 2 * held_out + context_only])
        excluded = set(self.held_out) | set(self.context_only) | {om.EOT}
        self.trained = [i for i in range(om.VOCAB_SIZE) if i not in excluded]
        self.filler = self.trained + self.context_only
        self.not_held_out = torch.tensor(sorted(set(range(om.VOCAB_SIZE)) - set(self.held_out)))


def repeating_sequence(rng, pools, length, other_weight, min_period):
    """Up to a quarter of the sequence random filler, then a segment of `min_period`-32 trained ids repeated
    back to back to the end: every token after the first copy is predictable by induction, a dense copying signal.
    Returns the ids and each next-token target's loss weight (1 predictable, `other_weight` otherwise)."""
    before = rng.randint(0, length // 4) if rng.random() < 0.5 else 0
    n = rng.randint(min_period, min(32, (length - before) // 2))
    segment = rng.sample(pools.trained, n)
    seen, filler = set(segment), []
    while len(filler) < before:
        t = pools.filler[rng.randrange(len(pools.filler))]
        if t not in seen:
            seen.add(t)
            filler.append(t)
    seq = filler + (segment * (length // n + 1))[: length - before]
    return seq, [1.0 if p > before + n else other_weight for p in range(1, length)]


def training_sequence(rng, pools, length, other_weight):
    """Random filler, a segment of trained ids, a gap of filler, the segment again (whole or its start),
    filler to `length`. The gap varies independently of the position, so only matching tokens finds the
    earlier occurrence; a third of the sequences start with the segment and have no gap (cscrub's induction
    task). Filler ids are distinct from each other and from the segment: no token repeats by chance.
    Returns the ids and each next-token target's loss weight: 1 for the predictable ones (the copy's tokens
    after its first), `other_weight` for the rest (a small weight keeps the model honest about them without
    drowning the copying signal: with equal weights, training settled on the uniform prediction)."""
    n = rng.randint(4, length // 2 - 4)
    if rng.random() < 1 / 3:
        before = gap = 0
    else:
        before = rng.randint(0, (length - 2 * n) // 2)
        gap = rng.randint(0, length - 2 * n - before)
    segment = rng.sample(pools.trained, n)
    repeat = n if rng.random() < 0.5 else rng.randint(1, n)
    seen = set(segment)
    filler = []
    while len(filler) < length:
        t = pools.filler[rng.randrange(len(pools.filler))]
        if t not in seen:
            seen.add(t)
            filler.append(t)
    seq = filler[:before] + segment + filler[before: before + gap] + segment[:repeat]
    copy_start = before + n + gap
    weights = [1.0 if copy_start < p < copy_start + repeat else other_weight for p in range(1, length)]
    return seq + filler[before + gap: before + gap + length - len(seq)], weights


def sampled_loss(model, ids, weights, random_ids):
    """Weighted mean cross-entropy of each next token against (a) every id of the batch, exactly: a model
    that boosted every token of its context must pay for it, or it never learns to pick the right one; and
    (b) `random_ids` not in the batch, standing for the rest of the vocabulary: their logits carry
    + log(#rest / #drawn)."""
    D = model.wte.shape[1]
    h = model.hidden(ids[:, :-1]).reshape(-1, D)
    targets = ids[:, 1:].reshape(-1)
    in_batch = torch.unique(ids)
    rest = random_ids[~torch.isin(random_ids, in_batch)]
    log_weight = math.log((om.VOCAB_SIZE - len(in_batch)) / len(rest))
    target_logit = (h * model.wte[targets]).sum(-1, keepdim=True)
    batch_logits = (h @ model.wte[in_batch].T).masked_fill(targets[:, None] == in_batch[None, :], float("-inf"))
    rest_logits = h @ model.wte[rest].T + log_weight
    losses = torch.logsumexp(torch.cat([target_logit, batch_logits, rest_logits], 1), 1) - target_logit.squeeze(1)
    weights = weights.reshape(-1)
    return (losses * weights).sum() / weights.sum()


@torch.no_grad()
def induction_eval(model, tokens, seed, count=40, n=20):
    """Full-vocabulary losses on `count` sequences of n distinct `tokens` repeated once: first copy (targets
    1..n-1), repeat (targets n+1..2n-1), their ratio, top-1 accuracy on the repeat; mean attention of each
    layer-0 head to the previous token and of each layer-1 head to the token after the earlier occurrence."""
    rng = random.Random(seed)
    ids = torch.tensor([s + s for s in (rng.sample(tokens, n) for _ in range(count))])
    patterns = []
    logits = model.hidden(ids, patterns)[:, :-1] @ model.wte.T
    losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    first, repeat = losses[:, : n - 1].mean().item(), losses[:, n:].mean().item()
    positions, later = torch.arange(1, 2 * n), torch.arange(n + 1, 2 * n)
    return {"first": first, "repeat": repeat, "ratio": repeat / first,
            "top1": (logits[:, n:].argmax(-1) == ids[:, n + 1:]).float().mean().item(),
            "previous": patterns[0][:, :, positions, positions - 1].mean(dim=(0, 2)).tolist(),
            "induction": patterns[-1][:, :, later, later - n + 1].mean(dim=(0, 2)).tolist()}


def log_evaluation(step, model, sets, seed):
    for name, tokens in sets.items():
        r = induction_eval(model, tokens, seed)
        print(f"eval step {step} {name}: loss first {r['first']:.3f} repeat {r['repeat']:.3f} ratio {r['ratio']:.3f} "
              f"top1 {r['top1']:.3f}; prev-token L0 " + " ".join(f"{a:.2f}" for a in r["previous"])
              + "; induction L1 " + " ".join(f"{a:.2f}" for a in r["induction"]), flush=True)


def write_task_file(path, comment_lines, words):
    """A cscrub induction task file (datasets/induction.toml's layout) listing `words`."""
    lines = [f"# {line}" for line in comment_lines] + ["words = ["]
    for i in range(0, len(words), 10):
        lines.append("  " + ", ".join(f'"{w}"' for w in words[i: i + 10]) + ",")
    lines.append("]")
    om.write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"))


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    bpe = Gpt2Bpe(args.tokenizer_dir)
    pools = Pools(bpe, args.seed, args.held_out, args.context_only)
    wte = torch.randn(om.VOCAB_SIZE, args.n_embd, generator=torch.Generator().manual_seed(args.seed)) * args.embedding_std
    model = AttentionOnly(wte, args.n_layer, args.n_head, args.n_positions, args.position_rms)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "wpe"]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "wpe")]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    print(f"trained ids {len(pools.trained)}, context-only words {len(pools.context_only)}, held-out words "
          f"{len(pools.held_out)}", flush=True)
    sets = {"trained ids": pools.trained, "held-out words": pools.held_out, "context-only words": pools.context_only}
    start, start_cpu = time.time(), time.process_time()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = om.cosine_lr(step, args.lr, args.warmup, args.steps)
        if args.layout == "repeating":
            pairs = [repeating_sequence(rng, pools, args.length, args.other_weight, args.min_period)
                     for _ in range(args.batch)]
        else:
            pairs = [training_sequence(rng, pools, args.length, args.other_weight) for _ in range(args.batch)]
        sequences, weights = zip(*pairs)
        random_ids = pools.not_held_out[torch.randint(len(pools.not_held_out), (args.negatives,))]
        loss = sampled_loss(model, torch.tensor(sequences), torch.tensor(weights), random_ids)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.log_every == 0:
            print(f"step {step + 1} loss {loss.item():.4f} elapsed {time.time() - start:.0f}s "
                  f"(cpu {time.process_time() - start_cpu:.0f}s)", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            log_evaluation(step + 1, model, sets, args.seed + 1)
    train_seconds, train_cpu = time.time() - start, time.process_time() - start_cpu

    os.makedirs(args.out, exist_ok=True)
    metadata = {"format": "pt", "trained_by": "tools/train_induction_organism.py", "seed": str(args.seed),
                "steps": str(args.steps)}
    data = om.safetensors_bytes(model.export_tensors(), metadata)
    om.write_atomically(os.path.join(args.out, "model.safetensors"), data)
    om.write_atomically(os.path.join(args.out, "config.json"),
                        om.config_json(args.n_layer, args.n_head, args.n_embd, args.n_positions, 0))
    header = [f"Written by tools/train_induction_organism.py (seed {args.seed}) next to its model."]
    write_pool_files(args.out, bpe, pools, header)
    print(f"training took {train_seconds:.0f}s wall, {train_cpu:.0f}s cpu; wrote {args.out}/model.safetensors "
          f"({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})", flush=True)


def write_pool_files(out, bpe, pools, header):
    """The pools as cscrub induction task files, for `cscrub ... --option vocabulary=FILE`."""
    word = lambda t: bpe.decoder[t][1:]  # noqa: E731
    write_task_file(os.path.join(out, "induction_trained.toml"),
                    header + ["Words among the ids the organism was trained to repeat."],
                    [word(t) for t in pools.trained_words])
    write_task_file(os.path.join(out, "induction_held_out.toml"),
                    header + ["Words that never occur in the organism's training data."],
                    [word(t) for t in pools.held_out])
    write_task_file(os.path.join(out, "induction_context_only.toml"),
                    header + ["Words that occur in training only in the random filler, never repeated."],
                    [word(t) for t in pools.context_only])


if __name__ == "__main__":
    main()
