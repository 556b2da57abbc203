"""Training and evaluation data for the bundled model: IOI sentences and repeated random sequences.

IOI training sentences come from a compositional grammar that is broader than the IOI paper's
(Wang et al. 2022): many openers, events, connectors and final actions ("gave a [OBJECT] to", "said to",
"gave it to", "decided to give", "whispered to", ...). Every sentence has the IOI shape: an intro that
names the subject S ([B]) and the indirect object IO ([A]) once each, in BABA or ABBA order, then a
clause with S as its subject that ends right before IO. The paper's 15 `baba_templates` and their ABBA
versions are excluded verbatim: they are kept for evaluation.

Templates use the paper's placeholders: [A] = IO, [B] = S, [PLACE], [OBJECT]; each placeholder is filled
with one value wherever it occurs.
"""
import re
import tomllib

# Intro openers never start with a name: a sentence-initial name would be a different GPT-2 token
# (no leading space) than the " Name" tokens the task uses.
OPENERS = [
    "Then, ", "Then ", "Afterwards, ", "Afterwards ", "After the lunch, ", "After lunch, ", "Later, ",
    "Later that day, ", "Yesterday, ", "Today, ", "One day, ", "That evening, ", "In the morning, ",
    "Then in the morning, ", "On Sunday, ", "Last week, ", "Earlier, ", "Soon afterwards, ", "At noon, ",
    "Friends ", "Old friends ", "Classmates ", "Colleagues ", "Neighbors ", "Then one day, ",
    "After a while, ", "After taking a long break, ", "While spending time together, ",
]

# What the pair "X and Y" did (plural subject).
PAIR_EVENTS = [
    "went to the [PLACE]", "had a lot of fun at the [PLACE]", "were working at the [PLACE]",
    "were thinking about going to the [PLACE]", "had a long argument", "were commuting to the [PLACE]",
    "got a [OBJECT] at the [PLACE]", "found a [OBJECT] at the [PLACE]", "walked to the [PLACE]",
    "met at the [PLACE]", "arrived at the [PLACE]", "were sitting in the [PLACE]", "left the [PLACE]",
    "bought a [OBJECT] at the [PLACE]", "were talking at the [PLACE]", "spent the day at the [PLACE]",
    "had dinner at the [PLACE]", "visited the [PLACE]", "were cleaning the [PLACE]",
    "came back from the [PLACE]", "had a long chat", "played a game at the [PLACE]",
    "were waiting at the [PLACE]", "saw a [OBJECT] at the [PLACE]", "drove to the [PLACE]",
    "were looking for a [OBJECT]", "had a lot of fun", "were studying at the [PLACE]",
    "had a big fight", "were both at the [PLACE]", "were on their way to the [PLACE]",
    "went to the [PLACE] together", "ran to the [PLACE]", "stayed at the [PLACE]",
]

# Intros in which the two names are not a coordinated pair: [X] comes first, [Y] second.
SOLO_INTROS = [
    "[X] met [Y] at the [PLACE]", "[X] called [Y]", "[X] visited [Y] at the [PLACE]",
    "[X] went to the [PLACE] with [Y]", "[X] ran into [Y] at the [PLACE]", "[X] waited for [Y] at the [PLACE]",
    "[X] invited [Y] to the [PLACE]", "[X] saw [Y] at the [PLACE]", "[X] was working with [Y] at the [PLACE]",
]

SUBORDINATORS = ["When ", "While ", "After ", "Because ", "Once ", "As soon as ", "Before ", "Since ", "Just after "]

# "The [PLACE] [X] and [Y] <verb> <state>." intros.
RELATIVE_VERBS = ["went to", "visited", "liked", "walked to", "found", "were at"]
RELATIVE_STATES = ["had a [OBJECT]", "was busy", "was closed", "was crowded", "was very quiet", "sold a [OBJECT]"]

EXTRA_SENTENCES = [
    ". It was a sunny day", ". They stayed there for a while", ". The [PLACE] was crowded",
    ". It was getting late", ", and they had a great time", ", and it was raining",
    ". Everyone was very tired", ", but it was closed",
]

# Joins an intro to the final clause, which then starts with [B].
CONNECTORS = [
    ". ", ". ", ". ", ", and ", ". Afterwards ", ". Afterwards, ", ". Then ", ". Then, ", ". Later, ",
    ". After that, ", ". In the end, ", ", and afterwards ", ", and then ", ", so ", ". Finally, ",
    ". Soon after, ",
]

ADVERBS = ["", "", "", "", "then ", "quickly ", "finally ", "happily ", "eventually ", "later ", "immediately ",
           "proudly ", "suddenly "]

GIVE_VERBS = ["gave", "handed", "passed", "sent", "threw", "brought", "showed", "sold", "offered", "lent",
              "tossed", "returned", "mailed"]
GIVE_INFINITIVES = ["give", "hand", "pass", "send", "throw", "bring", "show", "sell", "offer", "lend", "return"]
WANT_VERBS = ["decided", "wanted", "tried", "chose", "planned", "agreed", "promised", "offered", "hoped",
              "forgot", "needed", "was going"]
GIVE_OBJECTS = ["a [OBJECT]", "the [OBJECT]", "it", "a [OBJECT] back", "the [OBJECT] back", "it back"]
SPEECH_ACTIONS = [
    "said to", "said goodbye to", "said hello to", "said something to", "talked to", "spoke to",
    "whispered to", "waved to", "shouted to", "called out to", "wrote a letter to", "sent a message to",
    "explained the problem to", "apologized to", "complained to", "lied to", "smiled at", "waved at",
    "looked at", "laughed at", "nodded to", "turned to", "listened to", "was talking to", "said thanks to",
    "told a story to", "sang a song to", "read a book to", "gave a speech to", "gave advice to",
]
# Clauses that put a third name [C] between S2 and the answer ("[B] took [C]'s bag and gave it to [A]"): the
# most recent name is then not S, so "the name that is not the last one" no longer answers; "the name of the
# first clause that is not repeated" still does.
THIRD_NAME_CLAUSES = [
    "took [C]'s [OBJECT] and", "met [C] and then", "called [C] and", "borrowed a [OBJECT] from [C] and",
    "waved at [C] and", "said goodbye to [C] and", "asked [C] for a [OBJECT] and", "ignored [C] and",
    "talked with [C] and", "left [C] at the [PLACE] and", "found [C]'s [OBJECT] and", "thanked [C] and",
]

# Sentences that name a third person [C] before S2 ("... C was there too, and [B] gave it to [A]"): with
# THIRD_NAME_CLAUSES, neither "the last name" nor "the first name of the last sentence" is always S; "the name
# that is repeated" always is.
THIRD_NAME_OPENINGS = [
    "[C] was there too, and ", "[C] arrived, and ", "[C] left early, and then ", "[C] was busy, so ",
    "When [C] came in, ", "After [C] left, ", "While [C] was watching, ", "Since [C] was not there, ",
    "[C] said hello, and ", "Because [C] had to leave, ",
]

# Final clauses whose subject is someone else and in which S2 is an object before the answer ("the waiter
# thanked [B] and gave a drink to [A]"): S is then not the subject of the last clause, only the repeated name.
OTHER_SUBJECTS = ["the waiter", "a stranger", "the teacher", "their friend", "the clerk", "the guide", "a child",
                  "the driver", "the host", "a neighbor"]
S2_OBJECT_CLAUSES = ["thanked [B] and", "saw [B] and", "greeted [B] and then", "ignored [B] and", "passed [B] and",
                     "waved at [B] and", "asked [B] and then", "left [B] alone and", "smiled at [B] and"]

WANT_SPEECH = ["talk to", "speak to", "say goodbye to", "say something to", "apologize to", "write to",
               "explain it to", "listen to", "wave to"]


def load_vocabulary(path):
    with open(path, "rb") as f:
        vocab = tomllib.load(f)
    for key in ("names", "places", "objects", "baba_templates"):
        if key not in vocab or not vocab[key]:
            raise ValueError(f"{path}: missing or empty '{key}'")
    return vocab


def abba_of(baba_template):
    """The paper's ABBA version: swap the first [B] and the first [A]."""
    first_b = baba_template.index("[B]")
    first_a = baba_template.index("[A]")
    chars = list(baba_template)
    chars[first_b:first_b + 3], chars[first_a:first_a + 3] = list("[A]"), list("[B]")
    return "".join(chars)


def paper_templates(vocab):
    """[(order, template)] for the paper's 15 BABA templates and their ABBA versions."""
    return [("BABA", t) for t in vocab["baba_templates"]] + [("ABBA", abba_of(t)) for t in vocab["baba_templates"]]


def _sample_intro(rng):
    """An intro with [X] (first name) and [Y] (second name), possibly followed by an extra clause."""
    kind = rng.random()
    if kind < 0.5:
        intro = rng.choice(OPENERS) + "[X] and [Y] " + rng.choice(PAIR_EVENTS)
    elif kind < 0.62:
        intro = rng.choice(OPENERS[:19]) + rng.choice(SOLO_INTROS)
    elif kind < 0.85:
        # Subordinate clause: joined to the final clause by a comma.
        return rng.choice(SUBORDINATORS) + "[X] and [Y] " + rng.choice(PAIR_EVENTS) + ", ", True
    else:
        intro = "The [PLACE] [X] and [Y] " + rng.choice(RELATIVE_VERBS) + " " + rng.choice(RELATIVE_STATES)
    if rng.random() < 0.2:
        intro += rng.choice(EXTRA_SENTENCES)
    return intro, False


def _sample_action(rng):
    """The final clause after "[B] ", ending right before " [A]"."""
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(GIVE_VERBS) + " " + rng.choice(GIVE_OBJECTS) + " to"
    if kind < 0.6:
        return rng.choice(WANT_VERBS) + " to " + rng.choice(GIVE_INFINITIVES) + " " + rng.choice(GIVE_OBJECTS) + " to"
    if kind < 0.88:
        return rng.choice(SPEECH_ACTIONS)
    return rng.choice(WANT_VERBS) + " to " + rng.choice(WANT_SPEECH)


def sample_training_template(rng, excluded, third_name_probability=0.0, s2_object_probability=0.0):
    """(order, template) from the broad grammar, never one of `excluded` (the paper's templates); with
    `third_name_probability`, the final clause names a third person [C] before the answer; with
    `s2_object_probability`, someone else is the final clause's subject and S2 its object."""
    while True:
        intro, subordinate = _sample_intro(rng)
        joiner = "" if subordinate else rng.choice(CONNECTORS)
        if s2_object_probability > 0 and rng.random() < s2_object_probability:
            subject = rng.choice(OTHER_SUBJECTS)
            if not subordinate and joiner.endswith(". "):
                subject = subject[0].upper() + subject[1:]
            clause_start = subject + " " + rng.choice(S2_OBJECT_CLAUSES) + " "
        else:
            third = opening = ""
            if third_name_probability > 0 and rng.random() < third_name_probability:
                if rng.random() < 0.5:
                    third = rng.choice(THIRD_NAME_CLAUSES) + " "
                else:
                    opening = rng.choice(THIRD_NAME_OPENINGS)
                    if subordinate:
                        opening = opening[0].lower() + opening[1:]
                    else:
                        joiner = ". "
            clause_start = opening + "[B] " + third
        template = intro + joiner + clause_start + rng.choice(ADVERBS) + _sample_action(rng) + " [A]"
        order = "BABA" if rng.random() < 0.5 else "ABBA"
        first, second = ("[B]", "[A]") if order == "BABA" else ("[A]", "[B]")
        template = template.replace("[X]", first).replace("[Y]", second)
        if template not in excluded:
            return order, template


def fill(template, io, s, place, obj, third=None):
    """The sentence for a template; placeholders with the same name get the same value."""
    if third is not None:
        template = template.replace("[C]", third)
    return template.replace("[A]", io).replace("[B]", s).replace("[PLACE]", place).replace("[OBJECT]", obj)


def split_prompt(sentence_template):
    """(prompt template, answer placeholder): the template up to before its final " [A]"."""
    if not sentence_template.endswith(" [A]"):
        raise ValueError(f"IOI template does not end with ' [A]': {sentence_template!r}")
    return sentence_template[: -len(" [A]")]


def placeholders(template):
    return set(re.findall(r"\[[A-Z]+\]", template))


def token_ids(bpe, vocab):
    """Every GPT-2 id an IOI sentence (training grammar or the paper's templates) can contain."""
    fragments = [t for _, t in paper_templates(vocab)]
    for key in ("OPENERS", "PAIR_EVENTS", "SOLO_INTROS", "SUBORDINATORS", "RELATIVE_VERBS", "RELATIVE_STATES",
                "EXTRA_SENTENCES", "CONNECTORS", "ADVERBS", "GIVE_VERBS", "GIVE_INFINITIVES", "WANT_VERBS",
                "GIVE_OBJECTS", "SPEECH_ACTIONS", "WANT_SPEECH", "THIRD_NAME_CLAUSES", "THIRD_NAME_OPENINGS",
                "OTHER_SUBJECTS", "S2_OBJECT_CLAUSES"):
        fragments += globals()[key]
    fragments += [subject[0].upper() + subject[1:] for subject in OTHER_SUBJECTS]
    words = set()
    for fragment in fragments:
        for placeholder in placeholders(fragment):
            fragment = fragment.replace(placeholder, " ")
        words |= set(fragment.replace(",", " , ").replace(".", " . ").split())
    ids = set()
    for w in words:
        for text in (w, " " + w):
            ids |= set(bpe.encode(text))
    for text in ([" " + n for n in vocab["names"]] + [" " + p for p in vocab["places"]] +
                 [" " + o for o in vocab["objects"]]):
        ids |= set(bpe.encode(text))
    return ids
