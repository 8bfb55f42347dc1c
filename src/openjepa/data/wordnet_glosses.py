"""The built-in ``wordnet_glosses``: WordNet 3.0's definitions (117,659 synsets), each labelled by its synset's
lexicographer file (45 classes: ``noun.animal``, ``verb.motion``, ``adj.all``, ...). Read offline from WordNet's
dictionary files (``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``) as Debian's ``wordnet-base`` installs
them: ``apt-get install wordnet-base`` (``/usr/share/wordnet``), or ``make wordnet``, which unpacks the same package
into the environment (``.venv/share/wordnet``) without root.

A text is a synset's definition without its example sentences ("a member of the genus Canis ..."); the lemmas are
left out, so the class must be read from how the thing is described. The test split is a fixed seeded draw.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from openjepa.core.errors import DataError
from openjepa.data.registry import DATASETS
from openjepa.data.text import Corpus, Documents

# WordNet's lexicographer files by number (the second field of a data line); lexnames(5WN)
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition "
    "noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape "
    "noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl").split()
PARTS = ("noun", "verb", "adj", "adv")


def wordnet_folders() -> list[Path]:
    """Where WordNet's dictionary files are looked for: the environment's own share folder, then the system's."""
    return [Path(sys.prefix) / "share" / "wordnet", Path("/usr/share/wordnet")]


def find_wordnet() -> Path:
    for folder in wordnet_folders():
        if all((folder / f"data.{part}").is_file() for part in PARTS):
            return folder
    raise DataError(f"wordnet_glosses reads WordNet's dictionary files (data.noun, data.verb, data.adj, data.adv), "
                    f"found in none of {', '.join(map(str, wordnet_folders()))}: run `make wordnet` (Debian's "
                    f"wordnet-base unpacked into .venv/share/wordnet) or `apt-get install wordnet-base`")


def read_glosses(folder: Path) -> tuple[list[str], np.ndarray]:
    """Every synset's definition and lexicographer file number ``(S,)`` from ``folder``'s ``data.*`` files."""
    texts, labels = [], []
    for part in PARTS:
        with open(folder / f"data.{part}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition("|")
                definition = gloss.strip().split('; "')[0].strip().rstrip(";").strip()
                if definition:
                    texts.append(definition)
                    labels.append(int(head.split()[1]))
    return texts, np.asarray(labels)


@DATASETS.register("wordnet_glosses", modality="text")
def wordnet_glosses(cfg) -> Corpus:
    """``cfg.test_sentences`` definitions drawn (seed 0) as the test split, the others (at most ``cfg.sentences``)
    for training."""
    texts, labels = read_glosses(find_wordnet())
    order = np.random.default_rng(0).permutation(len(texts))
    test, train = order[: cfg.test_sentences], order[cfg.test_sentences :]
    if cfg.sentences:
        train = train[: cfg.sentences]

    def split(idx: np.ndarray) -> Documents:
        return Documents([texts[i] for i in idx], torch.from_numpy(labels[idx]))

    return Corpus("wordnet_glosses", split(train), split(test), list(LEXNAMES))
