"""The built-in ``toy_sentences``: seed 004's missing-word task made into a corpus. Short sentences
``the <subject> <verb phrase> the [<adjective>] <object> [<ending>]`` whose verb phrase fixes the object's category
("climbed up the" -> something climbable), so the missing object can be guessed from its context but not from the
words' frequencies: each category has six objects, drawn evenly, and the adjectives and endings fit every category.

A split is :class:`~openjepa.data.text.Documents` whose focus word is each sentence's object and whose label is the
object's category; the corpus's vocabulary is closed (its words, no subwords).
"""

from __future__ import annotations

import numpy as np
import torch

from openjepa.data.registry import DATASETS
from openjepa.data.text import SPECIAL, Corpus, Documents

SUBJECTS = ("cat", "dog", "child", "girl", "boy", "bird", "man", "woman", "farmer", "robot")
CATEGORIES = {
    "climbable": (("climbed up", "climbed", "jumped over", "sat on", "slid down"),
                  ("tree", "stairs", "sofa", "ladder", "fence", "hill")),
    "food": (("ate", "cooked", "tasted", "sliced", "baked"),
             ("apple", "bread", "cake", "soup", "cheese", "carrot")),
    "openable": (("opened", "closed", "locked", "shut", "painted"),
                 ("door", "box", "window", "jar", "gate", "drawer")),
    "toy": (("chased", "threw", "caught", "kicked", "dropped"),
            ("ball", "stick", "frisbee", "kite", "hoop", "yoyo")),
    "readable": (("read", "wrote", "signed", "folded", "tore"),
                 ("book", "letter", "map", "note", "poem", "card")),
    "vehicle": (("drove", "rode", "parked", "washed", "fixed"),
                ("car", "bus", "train", "bike", "boat", "truck")),
}
ADJECTIVES = ("", "", "big", "old", "red", "small", "new")
ENDINGS = ("", "", "again", "quickly", "in the morning", "after lunch", "with care")
LENGTH = 10  # the longest sentence: the, subject, a 2-word verb, the, adjective, object, a 3-word ending


def vocabulary() -> list[str]:
    """Every word of the grammar, the special words first (their ids are 0 and 1)."""
    words = {"the"} | set(SUBJECTS)
    for verbs, objects in CATEGORIES.values():
        words |= {w for v in verbs for w in v.split()} | set(objects)
    words |= {w for phrase in ADJECTIVES + ENDINGS for w in phrase.split()}
    return [*SPECIAL, *sorted(words)]


def make_sentences(count: int, seed: int) -> Documents:
    """``count`` sentences drawn from the grammar with ``seed``."""
    rng = np.random.default_rng(seed)
    classes = list(CATEGORIES)
    texts, focus, labels = [], np.zeros(count, np.int64), rng.integers(len(classes), size=count)
    for s, label in enumerate(labels):
        verbs, objects = CATEGORIES[classes[label]]
        head = ["the", SUBJECTS[rng.integers(len(SUBJECTS))], *verbs[rng.integers(len(verbs))].split(), "the"]
        adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        words = head + ([adjective] if adjective else [])
        focus[s] = len(words)
        words += [objects[rng.integers(len(objects))], *ENDINGS[rng.integers(len(ENDINGS))].split()]
        texts.append(" ".join(words))
    return Documents(texts, torch.from_numpy(labels), torch.from_numpy(focus))


@DATASETS.register("toy_sentences", modality="text")
def toy_sentences(cfg) -> Corpus:
    """``cfg.sentences`` training and ``cfg.test_sentences`` test sentences, drawn with different seeds."""
    return Corpus("toy_sentences", make_sentences(cfg.sentences, seed=1), make_sentences(cfg.test_sentences, seed=2),
                  list(CATEGORIES), vocabulary())
