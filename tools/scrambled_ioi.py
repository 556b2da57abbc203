#!/usr/bin/python3
"""Scrambled IOI sentences for an IOI organism: the training grammar's sentences with their words shuffled and
the names S, IO, S put back at random places (tools/organism_data.py, Corpus.scrambled), so that only a name's
being repeated tells S from IO. For each order of the names (SSI: IO last, the most recent name; SIS; ISS):

  - the share with logit(IO) > logit(S) before the final IO, and the mean logit difference;
  - with --heads L.H,...: each head's attention from END to IO, to the first S and to the second S;
  - with --pairs-out PREFIX: PREFIX_ORDER.jsonl, prompt pairs for `cscrub patch --pairs` (corrupted: the second
    S replaced by a third name, as p_ABC replaces S2), answer IO, distractor S;
  - with --dataset-out FILE: the sentences of --dataset-order as a cscrub dataset of lines written by hand
    (datasets/README.md: text, answer, distractor, positions IO, S1, S2), those whose text tokenizes back to
    the same tokens (a shuffled sentence can glue two words into one);
  - with --again: the same sentences with " again" after the second S, as the training's --scrambled-again
    writes them.

Forward and attention come from tools/eval_organism.py's independent reader and forward pass.

Usage: tools/scrambled_ioi.py --model DIR [--n 200] [--heads 2.0,2.1] [--pairs-out /tmp/scrambled]
       [--dataset-out FILE --dataset-order SSI] [--again]
"""
import argparse
import json
import os
import random
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; set before torch loads OpenBLAS
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

import torch  # noqa: E402

import ioi_training_grammar as grammar  # noqa: E402
import organism_data as od  # noqa: E402
import organism_model as om  # noqa: E402
from eval_organism import PatternRecorder  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402

ORDERS = ("SSI", "SIS", "ISS")


def scrambled_pairs(corpus, n, seed, again_id=None):
    """{order: [(prompt ids, corrupted ids, io id, s id, first S position, second S position)]}, n per order; with
    `again_id`, that token follows the second S (as in the training's --scrambled-again), the same sentences."""
    rng = random.Random(seed)
    name_ids = set(corpus.name_ids)
    pairs = {order: [] for order in ORDERS}
    while any(len(p) < n for p in pairs.values()):
        sequence = corpus.scrambled(rng)
        if sequence[0] == om.EOT:
            sequence = sequence[1:]
        io, prompt = sequence[-1], sequence[:-1]
        names = [t for t in prompt if t in name_ids]
        s = next(t for t in names if t != io)
        order = "".join("S" if t == s else "I" for t in names)
        if len(pairs[order]) == n:
            continue
        first_s, second_s = (i for i, t in enumerate(prompt) if t == s)
        if again_id is not None:
            prompt = prompt[:second_s + 1] + [again_id] + prompt[second_s + 1:]
        third = rng.choice(sorted(name_ids - {io, s}))
        corrupted = prompt[:second_s] + [third] + prompt[second_s + 1:]
        pairs[order].append((prompt, corrupted, io, s, first_s, second_s))
    return pairs


def dataset_lines(bpe, pairs):
    """cscrub dataset lines (written by hand) of the sentences whose text tokenizes back to their tokens."""
    lines = []
    for prompt, _, io, s, first_s, second_s in pairs:
        text = bpe.decode(prompt)
        if bpe.encode(text) != prompt:
            continue
        positions = {"IO": prompt.index(io), "S1": first_s, "S2": second_s}
        lines.append(json.dumps({"text": text, "answer": bpe.decode([io]), "distractor": bpe.decode([s]),
                                 "positions": positions}) + "\n")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--tokenizer-dir", default=os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini"))
    p.add_argument("--vocabulary", default=os.path.join(SOURCE_DIR, "datasets", "ioi_paper_vocabulary.toml"))
    p.add_argument("--n", type=int, default=200, help="sentences per order")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--corpus-seed", type=int, default=2023, help="the training's --seed (its word pool)")
    p.add_argument("--heads", default="", help="heads whose attention from END to report, e.g. 2.0,2.1")
    p.add_argument("--pairs-out", help="write PREFIX_ORDER.jsonl for cscrub patch --pairs")
    p.add_argument("--dataset-out", help="write one order's sentences as a cscrub dataset (lines written by hand)")
    p.add_argument("--dataset-order", choices=ORDERS, default="SSI")
    p.add_argument("--again", action="store_true", help="follow the second S with ' again', as the training does")
    args = p.parse_args()
    torch.set_num_threads(1)
    bpe = Gpt2Bpe(args.tokenizer_dir)
    vocab = grammar.load_vocabulary(args.vocabulary)
    corpus = od.Corpus(bpe, vocab, 2000, 0, args.corpus_seed)
    model = PatternRecorder(args.model)
    heads = [tuple(int(x) for x in h.split(".")) for h in args.heads.split(",") if h]
    again_id = bpe.encode(" again")[0] if args.again else None
    for order, pairs in scrambled_pairs(corpus, args.n, args.seed, again_id).items():
        diffs, attention = [], {h: torch.zeros(3) for h in heads}
        for prompt, _, io, s, first_s, second_s in pairs:
            idx = torch.tensor([prompt])
            last = model.logits(idx)[0, -1]
            diffs.append((last[io] - last[s]).item())
            if heads:
                patterns, end = model.patterns(idx), len(prompt) - 1
                for layer, head in heads:
                    row = patterns[layer][0, head, end]
                    attention[(layer, head)] += torch.stack([row[prompt.index(io)], row[first_s], row[second_s]])
        d = torch.tensor(diffs)
        print(f"{order}: {len(d)} scrambled sentences, logit(IO) > logit(S) {(d > 0).float().mean().item():.3f}, "
              f"mean logit difference {d.mean().item():.2f}")
        for (layer, head), total in attention.items():
            io_a, s1_a, s2_a = (total / len(pairs)).tolist()
            print(f"  head {layer}.{head} from END: IO {io_a:.2f}, first S {s1_a:.2f}, second S {s2_a:.2f}")
        if args.pairs_out:
            lines = [json.dumps({"clean": c, "corrupted": x, "answer": io, "distractor": s}) + "\n"
                     for c, x, io, s, _, _ in pairs]
            om.write_atomically(f"{args.pairs_out}_{order}.jsonl", "".join(lines).encode("utf-8"))
        if args.dataset_out and order == args.dataset_order:
            lines = dataset_lines(bpe, pairs)
            om.write_atomically(args.dataset_out, "".join(lines).encode("utf-8"))
            print(f"  wrote {len(lines)} of them that tokenize back to their tokens to {args.dataset_out}")


if __name__ == "__main__":
    main()
