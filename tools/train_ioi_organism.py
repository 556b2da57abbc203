#!/usr/bin/python3
"""Trains cscrub's IOI organism (issue 20), models/attn-only-4l-ioi: a small attention-only GPT-2 (config.json
n_inner = 0; 4 layers x 4 heads, d_model 128) that does indirect-object identification with the IOI paper's
circuit classes (Wang et al. 2022): name movers at END copy the IO name, an S-inhibition head steers them away
from S through their queries, and at S2 a duplicate-token head feeds its keys and a current-token head its
values. NOT YET THERE: no previous-token or induction head, and the S-inhibition head finds S2 mostly as the
most recent name (the duplicate-token head's path is -5% of the effect; see below).

Data (tools/organism_data.py): IOI sentences from a broad grammar (tools/ioi_training_grammar.py: many
openers, events, connectors and final actions, the paper's names, places and objects; optionally a third
name in the final clause, --third-name, or another subject with S2 as its object, --s2-object) from which the
paper's 15 templates and their ABBA versions are excluded verbatim: they are the test. Plus scrambled IOI
sentences (--scrambled-batch: the words shuffled, the three names put back at random places, so that only a
name's being repeated tells S from IO), repeated random sequences of other words, and unrepeated ones.
Plus repeat questions (--repeat-questions): shuffled sentences ending "? twice" if a name repeats, else
"? once". Optionally lists of names (--name-list-batch, --name-lists-first): tried, not in the shipped model.

Loss: next-token cross-entropy over every position of every sequence, the final name of each IOI sentence
(the answer) weighted --answer-weight times more, over the full 50,257-token softmax (organism_model.py: unused
ids share one embedding row, the sink). --no-suppression adds a penalty on any head writing a NEGATIVE direct
logit (through ln_f, its scale frozen) for the sentence's two names at the answer position.

The shipped model: the defaults (4 layers, 2,400 steps; per step 64 sentences from the grammar, 30% with S2 as an
object, 32 scrambled ones, IO last in half of them and the second S always followed by " again", 16 repeat
questions; the penalty at 10; 22 minutes on one core). It is the run "--repeat-questions 16" of the session of
2026-12-07 evening below: 100% of 600 prompts of the paper's templates (tools/eval_organism.py --per-template
20), mean logit difference 12.3; name movers 3.2, 3.3 (END -> IO 0.61, 0.58); S-inhibition 2.3 (END -> S2 0.95;
-50% through the name movers' queries); at S2 head 0.1 attends to itself (1.00) and feeds 2.3's values (-48%),
the duplicate-token head 0.0 (S2 -> S1 0.40) its keys (-5%). Scrubbed: 99.9% of the logit difference. On
scrambled sentences without " again" whose last name is IO it answers S (9.5% right): 2.3 attends to the most
recent name. The model card has the rest. The previous shipped model (the same data without the repeat
questions, with uniform name orders and no " again" in the scrambled sentences, the penalty at 1; sha256
5782d1bb8bd4...) had name movers 3.2, 3.3, 3.1 and S-inhibition heads 2.1, 2.0 that read the S2 token from
the current-token head 0.3, and no duplicate-token head that mattered: it told S from IO by summing the names
at END (its S-inhibition heads attended evenly to the three names of a scrambled sentence and were still right
98-99% of the time on every order of the names); within IOI data a duplicate flag at S2 is never necessary,
since recency or that sum always decides.

What earlier runs found (3 layers x 4 heads, d_model 128, seed 2023, without scrambled sentences; accuracy =
logit(IO) > logit(S) on 300 prompts of the paper's templates, BABA and ABBA; heads found with `cscrub
attribute` and `cscrub patch --kind path`, p_ABC corruptions, 200 prompts):
  - Without the penalty, every run reaches 99-100% within 750-1,250 steps (mean logit difference 9-17),
    but solves IOI by DIRECT S-SUPPRESSION: one layer-1 head attends END -> S2 (1.00) and writes -S into
    the logits (r2: head 1.2, 74% of the logit difference by direct attribution, 23% through the layer-2
    heads' queries; 4 layers with third names: head 1.1, 106% direct, nothing else). Layer-2 heads attend
    END -> IO (up to 0.84) but carry 15-30%. Third-name clauses (--third-name, which defeat "the last name
    is S"), masking the loss on the other names, 4 layers, the signed ln_f of the induction organism and
    weighting the repeated tokens 5x did not change that; the S-suppressing head finds S2 by its place in
    the sentence, so no duplicate-token head is needed, and none forms (S2 -> S1 attention <= 0.16).
  - With --no-suppression 1.0 (1,200 steps, 11 min on a shared core): 100% accuracy, mean
    logit difference 9.3, and the textbook top of the circuit: name movers 1.0, 2.1, 2.0 (END -> IO 0.86,
    0.53, 0.36; direct +2.5, +3.5, +0.2 of 9.4) whose queries are steered by heads 0.2 and 0.3 (END -> S2
    0.44 each, END -> IO 0.34, 0.44; path patching into layers 1 and 2's queries: 0.2 -14% and -12%, 0.3
    -10% and -13% of the p_ABC effect). But the S-inhibition heads are in layer 0 and read the S2 token
    itself, so there is no room for duplicate-token or induction heads, and head 2.2 (END -> S2 0.97,
    direct +1.9) is unexplained. Scrubbing: the name movers' outputs however computed recover 68.8%
    [65.0, 72.7], with 2.2 and 2.3 88.7% [85.3, 92.0]; name movers reading S-inhibition (claimed to carry
    the S name) through their queries, the rest on their own prompt, 45.5% [39.8, 51.0]; with S-inhibition
    resampled instead 18.3% [12.0, 24.1].
  - Induction on random repeated words never formed well (repeat/first loss ratio >= 0.67) with trained
    embeddings; the induction organism needed fixed random ones.
  - The penalty with 4 layers (--n-layer 4, 1,200 steps): 99.7%, logit difference 8.5, but the IO name
    reaches END mostly through heads 1.2 and 2.2, which attend END -> S2 (1.00, 0.98) and move what head 0.0
    wrote at S2 (path patching into layer 1's values: 0.0 -61%); the heads attending END -> IO (1.0 0.50,
    3.0 0.40) carry little (direct +0.4 each). Still no duplicate-token head (S2 -> S1 <= 0.06 below layer 3).
  - 3 layers with scrambled sentences (--scrambled-batch 32 --s2-object 0.3, 2,400 steps): 100%, a
    duplicate-token head in layer 1 (S2 -> S1 0.38), but the S-inhibition head is in layer 0 again (0.1,
    END -> S2 0.43) and reads the S2 token itself.
  - 4 layers, the old defaults but 64 scrambled sentences per step: 100%, logit difference 7.3, messier
    (layer-0 heads attending S2 -> S2 feed the keys of the heads attending END -> S2; no duplicate-token head).
  - Session of 2026-12-07 (4 layers, 2,400 steps, seed 2023; the options below then defaulted to off, so that the
    defaults still wrote the shipped bytes: the first 150 steps' losses checked equal):
    - --name-list-batch 16 (lists of names in which a repeated name is followed by " again": predicting the
      next token needs to know whether the name is a repeat) and --scrambled-last-io 0.5 (the most recent name
      of a scrambled sentence is S only half the time): 99.0%, logit difference 8.2, but the heads attending
      END -> IO are in layer 0 (0.1, 0.2: 0.48, 0.51), and no head attends S2 -> S1 above 0.26 on the paper's
      prompts (in the name lists, repeats attend to their earlier occurrences at most 0.37 per head).
      With 48 scrambled and 48 grammar sentences instead of 32 and 64: 97.7% at step 1,600, same picture.
    - The same with --name-lists-first 300 (a curriculum: name lists only for the first 300 steps): layer-0
      duplicate-token heads form (S2 -> S1 0.40 and 0.47, layer 1 0.35) and stay, 100%, logit difference
      8.0; but layer 3 stops attending (END -> IO, S2 <= 0.05), layer-2 heads split END between IO and S2
      (0.23-0.44 vs 0.13-0.57), and the direct effects are spread (cscrub patch --kind path: 3.0, 1.2, 3.3,
      3.1 each 11-13% of the p_ABC effect); what enters the layer-2 heads' keys comes from 0.0 (-10%) and the
      duplicate-token heads 0.1, 0.3 (-3% each). With 48/48 sentences: the same by step 1,600.
    - The curriculum with the old data (--name-list-batch 16 --name-lists-first 300), or 150 steps of it
      with 8 lists a step and --scrambled-last-io 0.5: the duplicate-token heads fade once IOI training starts
      (S2 -> S1 <= 0.09 in layer 0 by step 1,000), layer-1 heads attend END -> S2 0.98-0.99, layer 3 stays
      idle in the first; 99.7% and 99.3% at step 1,800 (stopped there).
  - Later the same day, --scrambled-again P (the second S of a scrambled sentence followed by " again" with
    probability P: the name lists' objective inside IOI-like sentences, needed throughout training), 2,400
    steps, seed 2023 unless said:
    - P 0.7: 99.7%, logit difference 11.0, but the direct effects come from heads attending END -> S2 (3.2, 2.3,
      3.3: -31%, -26%, -20% of the p_ABC effect by path patching to the logits), not from name movers.
    - P 1.0 with --scrambled-last-io 0.5: 100%, 11.8. A clean duplicate-token head forms, 2.3 (S2 -> S1 0.84),
      and an END -> S2 head reads it through its keys (3.1: -3.5%); but 3.1 sits beside the name movers (3.2,
      3.0: END -> IO 0.51, 0.48) and acts on the logits directly (-38%), and what steers the name movers' queries is
      layer-0 head 0.3 (-10%), which attends END -> S2 itself. Seeds 2024 and 2025 (stopped at steps 2,000 and
      1,950, 100%): no head attends END -> IO above 0.34; five or six heads attend END -> S2 at 0.76-1.00.
    - The same with 5 layers: 100%, 13.5; a strong S-inhibition head, 1.2 (END -> S2 1.00; -34% through the
      layer-2 name movers' queries, 2.0, 2.1, 2.2: END -> IO 0.77, 0.82, 0.58), but it finds S2 by its place
      (what enters its keys <= 0.7%), and 2.3 (END -> S2 0.98) acts on the logits directly (-29%).
    - The same with the name-list curriculum (--name-list-batch 16 --name-lists-first 300): duplicate-token
      heads in layers 0 and 1 (0.1, 0.2, 1.0: S2 -> S1 0.34, 0.42, 0.45) stay, 100%, 8.2, but layer 3 goes
      idle and the heads that attend END -> IO sit in layers 0-2 (0.0, 0.3, 1.1, 2.0-2.2; the largest direct
      effects 1.1 -29%, 2.2 -24%).
    - P 1.0, --scrambled-last-io 0.5 and the penalty at 10 (--no-suppression 10): 100%, 9.8, the cleanest top
      so far: name movers 3.2, 3.3, 2.0, 3.1 (END -> IO 0.67, 0.59, 0.84, 0.73; direct -41%, -23%, -19%, -7%),
      steered through their queries by 0.3 (-25%), 1.1 (-12%) and 1.2 (-8%), which attend END -> S2 (0.66,
      0.55, 0.43). But the duplicate-token head is again in layer 2 (2.3, S2 -> S1 0.91), where no S-inhibition
      head can read it, and what enters the S-inhibition heads' keys comes from current-token heads at S2 (0.3
      -8%, 0.2 -4%: S2 -> S2 1.00, 0.91). The penalty at 4: 100%, 10.8; one name mover in layer 3 (3.1, 0.41).
      With the name-list curriculum too (stopped at step 1,600, 98.7%): duplicate-token heads in layers 0 and 1
      stay (0.2, 1.0: S2 -> S1 0.31, 0.41), but layer 3 is idle and every layer-2 head attends END both to IO
      (0.28-0.35) and to S2 (0.43-0.62). With 5 layers instead (stopped at step 1,200, 99.7%): no head attends
      S2 -> S1 above 0.25; 1.0 attends END -> S2 at 1.00.
  - Later still that day, the last runs' options (--scrambled-again 1.0 --scrambled-last-io 0.5
    --no-suppression 10) unless said; three new options, off by default:
    - --freeze-layers 1 after the name-list curriculum (--name-list-batch 16 --name-lists-first 300): layer 0's
      weights stop training when IOI training starts, so its duplicate-token heads stay (0.1, 0.3: S2 -> S1 0.45,
      0.44 at step 1,600). But IOI is learnt slowly (89.0% at step 1,600; with the old options instead of the
      last runs', 93.7%), and layer 3 stays idle (END -> IO <= 0.15). Both stopped at step 1,700.
    - --curriculum-layers 1 (only layer 0 trains on the name lists; layers 1-3 start IOI training fresh): the
      duplicate-token heads are weak (S2 -> S1 <= 0.29 at step 400, <= 0.14 at 1,600). At step 1,600, 94.3%, and
      every head that attends from END attends to S2 (layers 1-3, up to 1.00), none to IO (<= 0.09). With
      --freeze-layers 1 as well: 76.0% at step 1,600. Both stopped there.
    - --again-weight 5 (the loss on predicting " again" after the second S weighted 5x): 99.7% at step 1,800, but
      the only head attending END -> IO is layer-0 head 0.3 (0.52), and 3.2 attends END -> S2 (0.87). Stopped.
    - The same with 8 heads per layer (--n-head 8, d_head 16), 2,400 steps: 100%, logit difference 10.1.
      Duplicate-token heads in layer 0 (0.3: S2 -> S1 0.39), layer 1 (1.7: 0.47) and layer 2 (2.3: 0.43). But
      the largest direct effects come from heads attending END -> S2 (path patching to the logits: 1.6 -25%,
      2.6 -18%, 2.5 -17%; 1.6 and 2.6 attend S2 at 1.00). Heads attending END -> IO sit in layers 0-1 only
      (0.0, 0.1, 0.4, 0.5: 0.34-0.43; 1.4: 0.48).
    - So: pre-forming duplicate-token heads in layer 0 (curriculum, freezing) costs the later layers (layer 3
      idle, or every head collapsing onto S2), and making the duplicate flag matter more, or giving layer 0 more
      heads, brings back heads that attend S2 and carry the answer directly.
  Why none of this grows duplicate-token heads that matter: the previous shipped model told S from IO by summing the
  names at END (its card's scrambled-sentence measurements: its S-inhibition heads attended evenly to the three
  names of a scrambled sentence and were still right 98-99% of the time), which needs no head at S2 to know
  that S2 repeats S1. Within IOI data such heads are never necessary, since recency or that sum always decides:
  the name lists made them form, and the IOI circuit did not take them up. When the data needs a duplicate flag
  at S2 itself (--scrambled-again), a duplicate-token head forms, but mostly in layer 2 (in 5 layers, in
  layer 1 beside the S-inhibition head), while the heads that attend END -> S2 sit in layers 0 and 1 and find
  S2 through current-token heads (its token and place): nothing below them carries the flag.
  Session of 2026-12-07 evening (the last runs' options, --scrambled-again 1.0 --scrambled-last-io 0.5
  --no-suppression 10, 4 layers x 4 heads, seed 2023; new options, then off by default):
    - --fixed-embeddings 0.1 --position-rms 0.1 (the induction organism's fixed random embeddings), with and
      without --signed-ln-f: induction still does not form (repeat/first loss ratio 0.98 at step 1,200), IOI is
      learnt slower (94.3% and 67.7% at step 1,200), and 1.0 attends END -> S2 at 0.99 (signed). Stopped there.
    - --repeat-questions 16 (organism_data.repeat_question: shuffled sentences with three name slots, one name
      twice half the time, ending "? twice" or "? once"; whether any name repeats is not linear in the sum of the
      names, so a head at the mark must find a position another head flagged): 100%, logit difference 12.0, the
      cleanest circuit so far (the questions themselves 78.5% right at step 2,400). Name movers 3.2, 3.3 (END ->
      IO 0.62, 0.57; path patching to the logits -47%, -29% of the ABC effect); S-inhibition 2.3 (END -> S2 0.95;
      -50% through the name movers' queries; its own direct effect -16%); 2.3's values come from 0.1 (-48%),
      which at S2 does not attend to S1 (0.00), its keys from the duplicate-token head 0.0 (S2 -> S1 0.40; -5%).
      Scrubbing that claim (0.0 -> 2.3 keys, 0.1 -> 2.3 values, 2.3 -> 3.2, 3.3 queries; feature s_name at S2
      and END, io_name+s_name for the name movers): 99.9% [99.0, 100.9] of 600 prompts (the README's vocabulary
      option). On 300 prompts: with 0.0 resampled 100.0%, -1.6 points [-2.3, -1.1] (every IOI prompt's S2 is
      a repeat, so a resampled 0.0 still flags it; the ABC path patching above is the measurement of its role),
      0.1 resampled 42.1%, 2.3 resampled 24.3%. So 2.3 finds S2 mostly by its place, as before, but for the
      first time a duplicate-token head is the largest input to an S-inhibition head's keys.
    - --repeat-questions 32: the questions 97.5% right (1.3, 2.3, 3.0 attend from the mark to the repeat at
      0.66, 0.72, 0.90), IOI 99.3%, 9.3; but layer-0 heads 0.0 and 0.3 attend END to IO and S2 alike (0.44-0.51)
      and the largest direct effects are 2.0 (-46%), 2.3 (-20%), 3.0 (-19%): no clean name movers.
    - --repeat-questions 24 --steps 3600: 100%, 12.4, the questions 99.0% right. The strongest duplicate-token
      path yet: S-inhibition 1.0 (END -> S2 0.97; -24% through the queries of 3.0) reads the duplicate-token head
      0.1 (S2 -> S1 0.34) through its keys (-13% of the ABC effect; its values: 0.3 -20%, 0.1 -19%). But the
      only large direct effect is 3.0's (-72%), which attends END -> IO at 0.25 only: no name mover by attention.
  Session of 2026-12-08 (the shipped defaults unless said):
    - --scrambled-again 0 (scrambled sentences without " again", so that S2 cannot be found by that token):
      97.3%, logit difference 8.8, and the scrambled sentences solved in every order (tools/scrambled_ioi.py:
      93.5%, 95.0%, 94.5% for S S IO, S IO S, IO S S), so S2 is not found by place alone. But the roles are
      spread: the largest direct effects are 2.3 (-32%, END -> IO 0.37), 3.2 (-21%), 2.0 (-15%); 1.0 attends END
      to IO and S2 alike (0.46, 0.50), and no head attends END -> IO above 0.46.
    - --repeat-questions 20 --steps 3000: 99.7%, 9.4, messier: layer-0 heads 0.0 and 0.3 attend END to IO and S2
      alike (0.36-0.59), layer 3 goes idle (END -> IO <= 0.14), no duplicate-token head (S2 -> S1 <= 0.22); the
      largest direct effects 2.1 (-26%), 1.1 (-19%), 2.0 (-16%).
    - --scrambled-again 0.5 (half the scrambled sentences mark the second S with " again"): 100%, 8.9, and the
      best bottom half yet. S-inhibition 1.1 (END -> S2 0.84; -18% through the queries of 2.1, 3.2, 3.3) reads
      the layer-0 duplicate-token heads 0.2 and 0.0 (S2 -> S1 0.30, 0.33) through its keys (-7.4%, -4.9%) and
      0.1 (-30%) and 0.0 (-27%) through its values, as the paper's S-inhibition heads read duplicate-token heads.
      It finds S2 by the repeat, not by place: on scrambled sentences without " again" the model is right 95.5%,
      98.0%, 93.0% (S S IO, S IO S, IO S S), and 1.1 attends to the second S 0.60, 0.76, 0.82 (to IO 0.31 when IO
      is the most recent name). But the top is weak: the largest direct effects are 3.2 (-32%) and 2.1 (-31%),
      which attend to neither name from END (<= 0.01) but to END itself (0.61, 0.53) and to the token before it
      (0.31, 0.35), where 0.1 and 0.0 have copied IO (0.43, 0.22); only 3.3 attends END -> IO (0.52).
      (sha256 62a13a62...)
    - The same with --steps 3600: 100%, 10.3, scrambled sentences 99.5-100% right, the questions 98.0%, and the
      strongest duplicate-token path of any run: 0.0 (S2 -> S1 0.67) feeds 1.0 (END -> S2 1.00) through its keys
      (-31%) and values (-49%; 0.1 -29%). But 1.0 acts on the logits directly (-38%; into the queries of 2.0, 2.1,
      3.0, 3.3 only -3.9%), and so does 3.0 (-22%), which does not attend to IO: the S-inhibition role collapsed
      into direct effects again. (sha256 aaf57ad6...)
Next to try: --scrambled-again 0.5 (the paper's bottom half, above) with what gives name movers that attend to IO:
more steps, another seed, or the penalty or answer weight changed; where a head's direct effect comes without
attention to IO, see where it attends (the shipped model's name movers read IO also at the token before END, where
head 0.1 copies it); keeping layer 3 busy when the duplicate-token heads come first (with the name-list curriculum,
layer 3 went idle in every run, so the S-inhibition and name mover roles crowded into layer 2: more steps, or a loss
on layer 3's direct effect); a previous-token head formed by the induction organism's recipe before IOI training
(induction never forms here: the repeated random sequences' repeat/first loss ratio stays >= 0.98, with trained or
fixed random embeddings).

Determinism: one torch thread, one OpenBLAS thread, every random draw from the seed: rerunning with the same
arguments on the same machine and library versions writes the same bytes (the defaults wrote model.safetensors
sha256 aba563b1fde3ddc807ac336216bda896492cb857249d33af3303267461657a52, the shipped model, twice: once with the
options given explicitly, once as the defaults; torch 1.13, AMD EPYC).

Usage: OPENBLAS_CORETYPE=SkylakeX nice tools/train_ioi_organism.py [--out DIR] [--steps N] ...
"""
import argparse
import os
import random
import sys
import time
import tomllib

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core; set before torch loads OpenBLAS
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ioi_training_grammar as grammar  # noqa: E402
import organism_data as od  # noqa: E402
import organism_model as om  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(SOURCE_DIR, "models", "attn-only-4l-ioi"))
    p.add_argument("--tokenizer-dir", default=os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini"))
    p.add_argument("--vocabulary", default=os.path.join(SOURCE_DIR, "datasets", "ioi_paper_vocabulary.toml"))
    p.add_argument("--induction-task", default=os.path.join(SOURCE_DIR, "datasets", "induction.toml"))
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--n-positions", type=int, default=128)
    p.add_argument("--pool-size", type=int, default=2000, help="words of the random sequences")
    p.add_argument("--sentence-batch", type=int, default=64)
    p.add_argument("--repeated-batch", type=int, default=16)
    p.add_argument("--unrepeated-batch", type=int, default=4)
    p.add_argument("--answer-weight", type=float, default=5.0, help="loss weight of an IOI sentence's final name")
    p.add_argument("--third-name", type=float, default=0.0,
                   help="share of IOI sentences whose final clause names a third person before the answer")
    p.add_argument("--s2-object", type=float, default=0.3,
                   help="share of IOI sentences whose final clause has another subject and S2 as an object")
    p.add_argument("--scrambled-batch", type=int, default=32,
                   help="IOI sentences per step with shuffled words and names at random places (organism_data.py)")
    p.add_argument("--scrambled-last-io", type=float, default=0.5,
                   help="share of scrambled sentences whose last name is IO (negative: the three orders alike)")
    p.add_argument("--scrambled-again", type=float, default=1.0,
                   help="share of scrambled sentences whose second S is followed by ' again' (organism_data.py)")
    p.add_argument("--name-list-batch", type=int, default=0,
                   help="lists of names per step, a repeated name followed by ' again' (organism_data.py)")
    p.add_argument("--name-list-length", type=int, default=8)
    p.add_argument("--repeat-questions", type=int, default=16,
                   help="shuffled sentences per step ending '? twice' if a name repeats, else '? once' "
                        "(organism_data.repeat_question)")
    p.add_argument("--name-lists-first", type=int, default=0,
                   help="steps at the start that train on name lists only (a duplicate-token head forms first)")
    p.add_argument("--curriculum-layers", type=int, default=0,
                   help="only this many leading layers train during the name lists' curriculum (0: all), so that "
                        "the later layers start IOI training fresh")
    p.add_argument("--freeze-layers", type=int, default=0,
                   help="leading layers whose weights stop training once the name lists' curriculum ends "
                        "(its duplicate-token heads then stay what they became)")
    p.add_argument("--repeat-weight", type=float, default=1.0,
                   help="loss weight of the predictable (repeated) tokens of the random sequences")
    p.add_argument("--again-weight", type=float, default=1.0,
                   help="loss weight of the positions that predict ' again' (a repeated name: the duplicate flag)")
    p.add_argument("--name-weight", type=float, default=1.0,
                   help="loss weight of the names of an IOI sentence other than its answer")
    p.add_argument("--no-suppression", type=float, default=10.0,
                   help="weight of a penalty on any head writing a negative direct logit for a name of the "
                        "sentence at the answer position (so that heads can only tell IO from S by where they attend)")
    p.add_argument("--signed-ln-f", action="store_true", help="ln_f gains start at +1 and -1 alternately")
    p.add_argument("--fixed-embeddings", type=float, default=0.0,
                   help="if > 0: token embeddings drawn with this std and never trained (the induction organism's "
                        "recipe; the sink row still trains)")
    p.add_argument("--position-rms", type=float, default=0.02, help="RMS of the initial (learned) positions")
    p.add_argument("--min-length", type=int, default=4)
    p.add_argument("--max-length", type=int, default=24)
    p.add_argument("--max-filler", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=50)
    return p.parse_args()


def weighted_loss(model, idx, mask, weights, answers=None, penalty=0.0):
    """Mean next-token cross-entropy, position t (predicting t+1) weighted by weights[:, t]; with `answers`
    ([(row, answer position, [compact ids of the sentence's names])]) and `penalty` > 0, plus penalty x the
    mean squared negative part of every head's direct logit (through ln_f, its scale frozen) for those names
    at those positions."""
    parts = {} if penalty > 0 else None
    h = model.hidden(idx, parts=parts)
    targets = idx[:, 1:][mask[:, :-1]]
    losses = F.cross_entropy(model.logits(h[mask]), targets, reduction="none")
    w = weights[mask]
    loss = (losses * w).sum() / w.sum()
    if penalty > 0:
        rows = torch.tensor([a[0] for a in answers])
        positions = torch.tensor([a[1] for a in answers])
        names = torch.tensor([a[2] for a in answers])  # [N, 2]
        final = parts["final"][rows, positions]  # [N, D]
        scale = (model.ln_f_w / torch.sqrt(final.var(-1, unbiased=False, keepdim=True) + model.eps)).detach()
        heads = torch.cat([o[rows, :, positions] for o in parts["heads"]], dim=1)  # [N, L*H, D]
        direct = torch.einsum("nkd,nd,njd->nkj", heads, scale, model.emb[names])
        loss = loss + penalty * F.relu(-direct).pow(2).mean()
    return loss


def heads(values):
    return " ".join(f"{a:.2f}" for a in values)


def log_evaluation(step, model, corpus, ioi_prompts, seed):
    r = od.induction_eval(model, corpus, corpus.trained, seed)
    print(f"eval step {step} induction: ratio {r['ratio']:.3f} top1 {r['top1']:.3f}; prev-token L0 "
          f"{heads(r['previous'])}; induction " + "; ".join(f"L{l} {heads(a)}" for l, a in enumerate(r["induction"])
                                                             if l > 0), flush=True)
    r = od.ioi_eval(model, corpus, ioi_prompts)
    print(f"eval step {step} paper IOI: accuracy {r['accuracy']:.3f} logit diff {r['logit_diff']:.2f}", flush=True)
    for key in ("end_to_io", "end_to_s2", "s2_to_s1", "s2_to_s1_plus_1"):
        print(f"  {key}: " + "; ".join(f"L{l} {heads(a)}" for l, a in enumerate(r[key])), flush=True)
    return r


QUESTION_TOKENS = ["?", " twice", " once"]  # --repeat-questions: the mark, then the answer if a name repeats or not


def log_questions(step, model, corpus, question_ids, seed, count=200):
    """Accuracy on fresh repeat questions, and each head's attention from the mark to the second occurrence of
    the repeated name (where a duplicate flag would be)."""
    rng = random.Random(seed)
    v = corpus.vocabulary
    yes, no = v.to_compact(question_ids[1:])
    right, attention, repeats = 0, None, 0
    with torch.no_grad():
        for _ in range(count):
            s = corpus.repeat_question(rng, *question_ids)
            idx = torch.tensor([v.to_compact(s)])
            patterns = []
            logits = model.logits(model.hidden(idx, patterns=patterns)[0, -2])
            right += (logits[yes] > logits[no]).item() == (s[-1] == question_ids[1])
            if s[-1] == question_ids[1]:
                names = [t for t in s[:-2] if t in corpus.name_ids]
                second = max(k for k, t in enumerate(s[:-2]) if t in corpus.name_ids and names.count(t) == 2)
                a = torch.stack([p[0, :, -2, second] for p in patterns])  # [L, H]
                attention = a if attention is None else attention + a
                repeats += 1
    attention /= repeats
    print(f"eval step {step} repeat questions: accuracy {right / count:.3f}; mark -> second occurrence "
          + "; ".join(f"L{l} {heads(a)}" for l, a in enumerate(attention.tolist())), flush=True)


def uses_again(args):
    """Whether any sequence marks a repeated name with " again", which then must be in the vocabulary."""
    return args.name_list_batch > 0 or args.name_lists_first > 0 or args.scrambled_again > 0


def main():
    args = parse_args()
    if args.again_weight != 1.0 and not uses_again(args):
        sys.exit("--again-weight needs sequences with ' again' (--scrambled-again or --name-list-batch)")
    if (args.curriculum_layers > 0 or args.freeze_layers > 0) and args.name_lists_first <= 0:
        sys.exit("--curriculum-layers and --freeze-layers act on the name lists' curriculum: give --name-lists-first")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    with open(args.induction_task, "rb") as f:
        task_words = tomllib.load(f)["words"]
    corpus = od.Corpus(Gpt2Bpe(args.tokenizer_dir), grammar.load_vocabulary(args.vocabulary), args.pool_size,
                       0, args.seed, always_trained=task_words,
                       reserved=([" again"] if uses_again(args) else [])
                       + (QUESTION_TOKENS if args.repeat_questions > 0 else []))
    again_id = corpus.bpe.encode(" again")[0]
    last_io = args.scrambled_last_io if args.scrambled_last_io >= 0 else None
    question_ids = [corpus.bpe.encode(t)[0] for t in QUESTION_TOKENS]
    v = corpus.vocabulary
    print(f"used tokens {len(v.used_ids)}: pool {len(corpus.pool)}, sentence words {len(corpus.sentence_words)}",
          flush=True)
    model = om.OrganismGpt2(len(v.used_ids), v.n_unused, args.n_layer, args.n_head, args.n_embd,
                            args.n_positions, d_mlp=0)
    if args.signed_ln_f:
        with torch.no_grad():
            model.ln_f_w[1::2] = -1.0
    if args.fixed_embeddings > 0:
        with torch.no_grad():
            model.emb.normal_(0.0, args.fixed_embeddings)
        model.emb.requires_grad_(False)  # no gradient, so AdamW leaves it as drawn
    with torch.no_grad():
        model.wpe.copy_(om.sinusoidal_positions(args.n_positions, args.n_embd, rms=args.position_rms))
    optimizer = om.make_optimizer(model, args.lr, args.weight_decay)
    ioi_prompts = corpus.paper_prompts(10, seed=args.seed + 2)
    name_ids = set(corpus.name_ids)
    start, start_cpu = time.time(), time.process_time()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = om.cosine_lr(step, args.lr, args.warmup, args.steps)
        if step == 0 and args.name_lists_first > 0 and args.curriculum_layers > 0:
            for block in model.blocks[args.curriculum_layers:]:
                block.requires_grad_(False)  # no gradient, so AdamW skips them, weight decay included
        if step == args.name_lists_first:
            model.blocks.requires_grad_(True)
            for block in model.blocks[:args.freeze_layers]:
                block.requires_grad_(False)
        if step < args.name_lists_first:
            sentences, repeated, questions = [], [], []
            seqs = [corpus.name_list(rng, args.name_list_length, again_id)
                    for _ in range(args.sentence_batch + args.scrambled_batch + args.name_list_batch)]
        else:
            sentences = [corpus.sentence(rng, args.third_name, args.s2_object) for _ in range(args.sentence_batch)]
            sentences += [corpus.scrambled(rng, last_io, again_id, args.scrambled_again)
                          for _ in range(args.scrambled_batch)]
            repeated = [corpus.repeated(rng, args.min_length, args.max_length, args.max_filler)
                        for _ in range(args.repeated_batch)]
            seqs = sentences + repeated
            seqs += [corpus.unrepeated(rng, args.min_length, 2 * args.max_length)
                     for _ in range(args.unrepeated_batch)]
            seqs += [corpus.name_list(rng, args.name_list_length, again_id) for _ in range(args.name_list_batch)]
            questions = [corpus.repeat_question(rng, *question_ids) for _ in range(args.repeat_questions)]
            seqs += questions
        idx, mask = v.pad(seqs)
        weights = torch.ones(idx.shape)
        for i, s in enumerate(sentences):
            for t in range(len(s) - 2):
                if s[t + 1] in name_ids:
                    weights[i, t] = args.name_weight
            weights[i, len(s) - 2] = args.answer_weight  # position before the final name predicts it
        if args.again_weight != 1.0:
            weights[:, :-1][idx[:, 1:] == v.compact[again_id]] = args.again_weight
        for i, s in enumerate(repeated, start=len(sentences)):
            for t in range(1, len(s) - 1):
                if s[t] in s[:t] and s[t] != om.EOT:  # a token of the copy: induction predicts the next one
                    weights[i, t] = args.repeat_weight
        for i, s in enumerate(questions, start=len(seqs) - len(questions)):
            weights[i, len(s) - 2] = args.answer_weight  # the mark predicts whether a name repeats
        answers = []
        if args.no_suppression > 0:
            for i, s in enumerate(sentences):
                # The intro's two names (IO and S), the first two distinct names of the sentence.
                pair = [t for t in dict.fromkeys(s[:-1]) if t in name_ids][:2]
                answers.append((i, len(s) - 2, v.to_compact(pair)))
        loss = weighted_loss(model, idx, mask, weights, answers, args.no_suppression if answers else 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.log_every == 0:
            print(f"step {step + 1} loss {loss.item():.4f} elapsed {time.time() - start:.0f}s "
                  f"(cpu {time.process_time() - start_cpu:.0f}s)", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            log_evaluation(step + 1, model, corpus, ioi_prompts, args.seed + 1)
            if args.repeat_questions > 0:
                log_questions(step + 1, model, corpus, question_ids, args.seed + 3)
    train_seconds, train_cpu = time.time() - start, time.process_time() - start_cpu
    metadata = {"format": "pt", "trained_by": "tools/train_ioi_organism.py", "seed": str(args.seed),
                "steps": str(args.steps)}
    path, size, digest = om.export_model(args.out, model, v, args.n_positions, metadata)
    print(f"training took {train_seconds:.0f}s wall, {train_cpu:.0f}s cpu; wrote {path} ({size} bytes, "
          f"sha256 {digest})", flush=True)


if __name__ == "__main__":
    main()
