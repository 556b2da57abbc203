"""The IOI organism's training sequences (tools/organism_data.py): what each kind claims about its names holds."""
import collections
import random
import sys

import pytest

from conftest import BUNDLED_MODEL, SOURCE_DIR

sys.path.insert(0, str(SOURCE_DIR / "tools"))
import ioi_training_grammar as grammar  # noqa: E402
import organism_data as od  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402

QUESTION = ["?", " twice", " once"]


@pytest.fixture(scope="module")
def corpus():
    bpe = Gpt2Bpe(str(BUNDLED_MODEL))
    vocabulary = grammar.load_vocabulary(str(SOURCE_DIR / "datasets" / "ioi_paper_vocabulary.toml"))
    return od.Corpus(bpe, vocabulary, 2000, 0, 2023, reserved=QUESTION + [" again"])


def name_counts(corpus, sequence):
    return collections.Counter(t for t in sequence if t in corpus.name_ids)


def test_repeat_question_answers_whether_a_name_repeats(corpus):
    mark, yes, no = (corpus.bpe.encode(t)[0] for t in QUESTION)
    rng = random.Random(7)
    answers = collections.Counter()
    for _ in range(400):
        s = corpus.repeat_question(rng, mark, yes, no)
        assert s[-2] == mark and s[-1] in (yes, no)
        assert mark not in s[:-2] and yes not in s[:-2] and no not in s[:-2]
        counts = name_counts(corpus, s)
        assert sum(counts.values()) == 3  # three name slots, no name elsewhere
        repeated = max(counts.values()) == 2
        assert (s[-1] == yes) == repeated
        assert len(counts) == (2 if repeated else 3)
        answers[s[-1]] += 1
    assert 150 < answers[yes] < 250  # about half the questions have a repeat


def test_scrambled_sentences_name_s_twice_and_end_with_io(corpus):
    rng = random.Random(8)
    orders = collections.Counter()
    for _ in range(300):
        s = corpus.scrambled(rng, last_io_probability=0.5)
        counts = name_counts(corpus, s[:-1])
        assert sorted(counts.values()) == [1, 2]
        io = s[-1]
        assert counts[io] == 1
        names = [t for t in s[:-1] if t in corpus.name_ids]
        orders[names.index(io)] += 1
    assert orders[2] > 100  # IO last about half the time, as asked
