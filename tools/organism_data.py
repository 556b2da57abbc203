"""Training data and quick evaluations for cscrub's IOI organism (tools/train_ioi_organism.py).

Three kinds of sequence, each preceded by <|endoftext|> a quarter of the time:
  - repeated: n distinct tokens of the TRAINED pool, then all or the first part of them again, half the time
    with filler tokens before and between the copies (induction);
  - unrepeated: distinct tokens of the whole pool, trained and HELD-OUT parts alike, never repeated, so that
    held-out tokens are learned as tokens but never seen to repeat;
  - IOI sentences from tools/ioi_training_grammar.py (the paper's 15 templates excluded): "other contexts"
    whose words, names, places and objects never appear in a random sequence.
The pool is GPT-2's " [a-z]{3,}" tokens (one word with a leading space) of the lowest ids, minus every token
an IOI sentence can contain, split by the seed into trained and held-out parts (the words of cscrub's
default induction task, datasets/induction.toml, always trained).
"""
import json
import random
import re

import torch
import torch.nn.functional as F

import ioi_training_grammar as grammar
import organism_model as om

BOS_PROBABILITY = 0.25


class Corpus:
    def __init__(self, bpe, vocab, pool_size, held_out, seed, always_trained=(), reserved=()):
        """`always_trained`: words (without their leading space) that must be in the trained part of the pool,
        e.g. those of datasets/induction.toml, so that cscrub's default induction dataset uses them (7 of
        them also occur in IOI sentences). `reserved`: one-token strings kept out of the pool but in the
        vocabulary, for sequences with a meaning of their own (name_list's " again")."""
        self.bpe = bpe
        self.names, self.places, self.objects = vocab["names"], vocab["places"], vocab["objects"]
        self.name_ids = [bpe.encode(" " + name)[0] for name in self.names]  # one token each, vocabulary order
        self.paper = grammar.paper_templates(vocab)
        self.excluded = {t for _, t in self.paper}
        sentence_ids = grammar.token_ids(bpe, vocab)
        reserved_ids = {bpe.encode(r)[0] for r in reserved}
        required = []
        for word in always_trained:
            ids = bpe.encode(" " + word)
            if len(ids) != 1:
                raise ValueError(f"' {word}' is not one GPT-2 token")
            required.append(ids[0])
        candidates = sorted(i for s, i in bpe.encoder.items() if re.fullmatch("\u0120[a-z]{3,}", s))
        others = [i for i in candidates
                  if i not in sentence_ids and i not in required and i not in reserved_ids][: pool_size - len(required)]
        self.pool = sorted(required + others)
        if len(self.pool) < pool_size:
            raise ValueError(f"only {len(self.pool)} candidate pool words")
        random.Random(seed).shuffle(others)
        self.held_out = sorted(others[:held_out])
        self.trained = sorted(required + others[held_out:])
        # Words known only from sentences: their single-token " Word"s that are not in the pool.
        self.sentence_words = sorted(i for i in sentence_ids - set(self.pool)
                                     if re.fullmatch("\u0120[A-Za-z]{3,}", bpe.decoder[i]))
        self.vocabulary = om.Vocabulary(set(self.pool) | sentence_ids | reserved_ids | {om.EOT})

    def word(self, token):
        return self.bpe.decoder[token][1:]

    def repeated(self, rng, min_length, max_length, max_filler):
        """n distinct trained-pool tokens, then all or the first part of them again. Half the time filler
        tokens come before the first copy and between the copies, so that the distance between the copies
        varies independently of the position: only matching tokens finds the earlier occurrence."""
        n = rng.randint(min_length, max_length)
        seq = rng.sample(self.trained, n)
        before = between = 0
        if rng.random() < 0.5:
            before, between = rng.randint(0, max_filler), rng.randint(0, max_filler // 2)
        repeat = n if rng.random() < 0.5 else rng.randint(1, n)
        chosen = set(seq)
        filler = [t for t in rng.sample(self.pool, before + between + n) if t not in chosen][: before + between]
        return self._bos(rng) + filler[:before] + seq + filler[before:] + seq[:repeat]

    def skip_copies(self, rng, count):
        """`count` triples "a b a" of trained-pool tokens: the third token is the one before the previous, which a
        previous-token head can copy (as text repeats a word two tokens back)."""
        sequence = []
        for _ in range(count):
            a, b = rng.sample(self.trained, 2)
            sequence += [a, b, a]
        return self._bos(rng) + sequence

    def unrepeated(self, rng, min_length, max_length):
        return self._bos(rng) + rng.sample(self.pool, rng.randint(min_length, max_length))

    def sentence(self, rng, third_name_probability=0.0, s2_object_probability=0.0):
        _, template = grammar.sample_training_template(rng, self.excluded, third_name_probability,
                                                       s2_object_probability)
        if "[C]" in template:
            io, s, third = rng.sample(self.names, 3)
        else:
            (io, s), third = rng.sample(self.names, 2), None
        text = grammar.fill(template, io, s, rng.choice(self.places), rng.choice(self.objects), third)
        return self._bos(rng) + self.bpe.encode(text)

    def name_list(self, rng, count, again_id, repeat_probability=0.4):
        """`count` names of the vocabulary, each followed by " again" if it occurred before in the list, else by a
        trained-pool word: predicting the token after a name needs to know whether that name is a repeat, wherever
        its earlier occurrence is (a duplicate-token head's job)."""
        sequence, seen = [], []
        for _ in range(count):
            if seen and rng.random() < repeat_probability:
                name = rng.choice(seen)
            else:
                name = rng.choice([n for n in self.name_ids if n not in seen])
            sequence += [name, again_id if name in seen else rng.choice(self.trained)]
            seen.append(name)
        return self._bos(rng) + sequence

    def scrambled(self, rng, last_io_probability=None, again_id=None, again_probability=0.0):
        """An IOI sentence of the training grammar with its words shuffled and its three names (S, IO, S, in one
        of the three orders in which S comes twice) put back at random places before the final action, which
        stays in order and ends the sequence with IO: where a name sits says nothing, so only a name's being
        repeated tells S from IO. The three orders are equally likely, or with `last_io_probability` IO comes last
        that often (S, S, IO) and S last otherwise, so that the most recent name is S as often as wished. With
        `again_probability` > 0 the second S is followed by `again_id` that often: predicting the token after a
        name then needs to know, at that name, whether it is a repeat (a duplicate-token head's job)."""
        _, template = grammar.sample_training_template(rng, self.excluded, 0.0)
        io, s = rng.sample(self.names, 2)
        ids = self.bpe.encode(grammar.fill(template, io, s, rng.choice(self.places), rng.choice(self.objects)))
        io_id, s_id = ids[-1], self.bpe.encode(" " + s)[0]
        body = [t for t in ids[:-1] if t not in (io_id, s_id)]
        tail_length = min(len(body) - 1, rng.randint(1, 3))
        salad, tail = body[:-tail_length], body[-tail_length:]
        rng.shuffle(salad)
        if last_io_probability is None:
            names = rng.choice([[s_id, s_id, io_id], [s_id, io_id, s_id], [io_id, s_id, s_id]])
        elif rng.random() < last_io_probability:
            names = [s_id, s_id, io_id]
        else:
            names = rng.choice([[s_id, io_id, s_id], [io_id, s_id, s_id]])
        mixed = self._scatter(rng, salad, names)
        if again_probability > 0 and rng.random() < again_probability:
            second_s = [k for k, t in enumerate(mixed) if t == s_id][1]
            mixed.insert(second_s + 1, again_id)
        return self._bos(rng) + mixed + tail + [io_id]

    def repeat_question(self, rng, mark_id, yes_id, no_id):
        """The words of a training-grammar sentence shuffled, with three name slots at random places: half the
        time one name twice and another once, else three different names; then `mark_id`, then `yes_id` if a name
        was repeated, else `no_id`. Unlike IOI, where summing the names at END tells the once-named IO from the
        twice-named S, whether any name repeats is not a linear function of that sum: a head at the mark has to
        find the repeat by attending to a position that another head flagged as a duplicate, the S-inhibition
        heads' pattern in GPT-2 small."""
        _, template = grammar.sample_training_template(rng, self.excluded, 0.0)
        first, second, third = rng.sample(self.names, 3)
        ids = self.bpe.encode(grammar.fill(template, first, second, rng.choice(self.places), rng.choice(self.objects)))
        first_id, second_id, third_id = (self.bpe.encode(" " + n)[0] for n in (first, second, third))
        salad = [t for t in ids if t not in (first_id, second_id)]
        rng.shuffle(salad)
        repeated = rng.random() < 0.5
        names = [first_id, second_id, second_id if repeated else third_id]
        rng.shuffle(names)
        return self._bos(rng) + self._scatter(rng, salad, names) + [mark_id, yes_id if repeated else no_id]

    @staticmethod
    def _scatter(rng, words, names):
        """`words` in order with `names` (in order) put at random places among them."""
        slots = sorted(rng.sample(range(len(words) + len(names)), len(names)))
        mixed, rest = [], iter(words)
        for k in range(len(words) + len(names)):
            mixed.append(names[slots.index(k)] if k in slots else next(rest))
        return mixed

    def _bos(self, rng):
        return [om.EOT] if rng.random() < BOS_PROBABILITY else []

    def paper_prompts(self, count_per_template, seed):
        """[(prompt ids, io id, s id, io position, s1 position, s2 position)] over the paper's 15 templates x
        {BABA, ABBA}, no BOS; every name, place and object is one token, so positions follow from the text."""
        rng = random.Random(seed)
        prompts = []
        for _, template in self.paper:
            prompt_template = grammar.split_prompt(template)
            for _ in range(count_per_template):
                io, s = rng.sample(self.names, 2)
                ids = self.bpe.encode(grammar.fill(prompt_template, io, s, rng.choice(self.places),
                                                   rng.choice(self.objects)))
                io_id, s_id = self.bpe.encode(" " + io)[0], self.bpe.encode(" " + s)[0]
                s_positions = [p for p, t in enumerate(ids) if t == s_id]
                prompts.append((ids, io_id, s_id, ids.index(io_id), s_positions[0], s_positions[-1]))
        return prompts


def write_task_file(path, comment_lines, words):
    """A cscrub induction task file (datasets/induction.toml's layout) listing `words`."""
    lines = [f"# {line}" for line in comment_lines] + ["words = ["]
    for i in range(0, len(words), 10):
        lines.append("  " + ", ".join(json.dumps(w) for w in words[i: i + 10]) + ",")
    lines.append("]")
    om.write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"))


# -------------------------------------------------------------------------------------------- evaluation

@torch.no_grad()
def induction_eval(model, corpus, tokens, seed, count=100, n=20):
    """{"first", "repeat", "ratio", "top1", "previous" and "duplicate" [per layer-0 head: to the previous token,
    to the earlier occurrence of the same token], "induction" [per layer, per head]} on `count` sequences of n distinct `tokens` repeated once; the repeat's unpredictable first token
    is left out."""
    rng = random.Random(seed)
    seqs = [rng.sample(tokens, n) for _ in range(count)]
    idx = torch.tensor([corpus.vocabulary.to_compact(s + s) for s in seqs])
    patterns = []
    logits = model.logits(model.hidden(idx, patterns))[:, :-1]
    losses = F.cross_entropy(logits.transpose(1, 2), idx[:, 1:], reduction="none")
    first, repeat = losses[:, : n - 1].mean().item(), losses[:, n:].mean().item()
    positions = torch.arange(1, 2 * n)
    later = torch.arange(n + 1, 2 * n)
    return {"first": first, "repeat": repeat, "ratio": repeat / first,
            "top1": (logits[:, n:].argmax(-1) == idx[:, n + 1:]).float().mean().item(),
            "previous": patterns[0][:, :, positions, positions - 1].mean(dim=(0, 2)).tolist(),
            "duplicate": patterns[0][:, :, later, later - n].mean(dim=(0, 2)).tolist(),
            "induction": [p[:, :, later, later - n + 1].mean(dim=(0, 2)).tolist() for p in patterns]}


@torch.no_grad()
def ioi_eval(model, corpus, prompts):
    """{"accuracy", "logit_diff", "end_to_io", "end_to_s2", "s2_to_s1", "s2_to_s1_plus_1"}: the last four per
    layer and head (mean attention over the prompts)."""
    v = corpus.vocabulary
    diffs, attention = [], {"end_to_io": [], "end_to_s2": [], "s2_to_s1": [], "s2_to_s1_plus_1": []}
    by_length = {}
    for p in prompts:
        by_length.setdefault(len(p[0]), []).append(p)
    for length, group in sorted(by_length.items()):
        idx = torch.tensor([v.to_compact(p[0]) for p in group])
        patterns = []
        logits = model.logits(model.hidden(idx, patterns)[:, -1])
        io = torch.tensor([v.compact[p[1]] for p in group])
        s = torch.tensor([v.compact[p[2]] for p in group])
        diffs.append(logits.gather(1, io[:, None]).squeeze(1) - logits.gather(1, s[:, None]).squeeze(1))
        rows = torch.arange(len(group))
        io_pos, s1_pos, s2_pos = (torch.tensor([p[k] for p in group]) for k in (3, 4, 5))
        stacked = torch.stack(patterns, dim=1)  # [B, L, H, T, T]
        attention["end_to_io"].append(stacked[rows, :, :, length - 1, io_pos])
        attention["end_to_s2"].append(stacked[rows, :, :, length - 1, s2_pos])
        attention["s2_to_s1"].append(stacked[rows, :, :, s2_pos, s1_pos])
        attention["s2_to_s1_plus_1"].append(stacked[rows, :, :, s2_pos, s1_pos + 1])
    d = torch.cat(diffs)
    result = {"accuracy": (d > 0).float().mean().item(), "logit_diff": d.mean().item()}
    for key, parts in attention.items():
        result[key] = torch.cat(parts).mean(0).tolist()
    return result
