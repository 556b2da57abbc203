"""GPT-2's byte-level BPE encoder, for the ASCII text the bundled model's training data uses.

Reads OpenAI's encoder.json + vocab.bpe. Text is pre-split with an ASCII version of GPT-2's regex
('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+), which is exact for ASCII
input; non-ASCII text is rejected rather than tokenized wrongly. Each piece's bytes are mapped to GPT-2's
printable byte alphabet and merged by rank.
"""
import json
import os
import re

_ASCII_PRESPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def _byte_alphabet():
    """GPT-2's map from byte value to a printable unicode character (bytes_to_unicode)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


class Gpt2Bpe:
    def __init__(self, tokenizer_dir):
        encoder_path = os.path.join(tokenizer_dir, "encoder.json")
        merges_path = os.path.join(tokenizer_dir, "vocab.bpe")
        for path in (encoder_path, merges_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: missing GPT-2 tokenizer file (run tools/fetch_tokenizer.sh)")
        with open(encoder_path, encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {i: s for s, i in self.encoder.items()}
        with open(merges_path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        # The first line is a version comment; the last may be empty.
        pairs = [tuple(line.split(" ")) for line in lines[1:] if line]
        self.merge_rank = {pair: rank for rank, pair in enumerate(pairs)}
        self.byte_alphabet = _byte_alphabet()
        self.unicode_to_byte = {c: b for b, c in self.byte_alphabet.items()}
        self._cache = {}

    def _merge(self, piece):
        if piece in self._cache:
            return self._cache[piece]
        symbols = list(piece)
        while len(symbols) > 1:
            ranked = [(self.merge_rank.get((a, b), None), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            ranked = [(r, i) for r, i in ranked if r is not None]
            if not ranked:
                break
            best_rank = min(r for r, _ in ranked)
            first, second = next((symbols[i], symbols[i + 1]) for r, i in ranked if r == best_rank)
            # Merge every non-overlapping occurrence of the best pair, left to right (as GPT-2 does).
            merged = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        ids = [self.encoder[s] for s in symbols]
        self._cache[piece] = ids
        return ids

    def encode(self, text):
        if not text.isascii():
            raise ValueError(f"only ASCII text is supported, got {text!r}")
        ids = []
        for piece in _ASCII_PRESPLIT.findall(text):
            ids.extend(self._merge("".join(self.byte_alphabet[b] for b in piece.encode("ascii"))))
        return ids

    def decode(self, ids):
        return bytes(self.unicode_to_byte[c] for i in ids for c in self.decoder[i]).decode("utf-8", "replace")
