"""What a text JEPA guesses for a missing word: on the test sentences, the object of each sentence is hidden and the
prediction read back as the nearest words; top-1 and top-k accuracy, and whether the top word lies in the object's
category, for the trained model, its random init and the unigram guess (the k objects most frequent in training,
whatever the context). Beside them the word table's RankMe and std over the vocabulary: near 1 and 0 mean that every
word got the same embedding (collapse)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from openjepa.core.errors import ConfigError
from openjepa.data.text import SPECIAL
from openjepa.eval.registry import EVAL_TASKS
from openjepa.eval.task import EvalContext, EvalTask
from openjepa.objectives.diagnostics import rankme, token_std
from openjepa.viz.word_map import save_word_map

log = logging.getLogger("openjepa")
ROWS = (("trained", "trained"), ("random_init", "random init"), ("unigram", "unigram frequency"))


def object_categories(split: Any) -> torch.Tensor:
    """``(V,)`` the label of each word when it is the focus of a sentence of ``split``, -1 for other words."""
    words = split.ids.gather(1, split.focus[:, None])[:, 0]
    category = torch.full((len(split.vocab),), -1, dtype=torch.long)
    category[words] = split.labels
    return category


@torch.no_grad()
def guesses(method: Any, split: Any, k: int, batch_size: int = 1024) -> torch.Tensor:
    """Ids ``(S, k)`` of the nearest words to the predicted object of each sentence of ``split``."""
    out = []
    for start in range(0, len(split), batch_size):
        ids, focus = split.ids[start : start + batch_size], split.focus[start : start + batch_size]
        out.append(method.nearest_words(method.predict(ids, focus), k))
    return torch.cat(out)


@EVAL_TASKS.register("masked_word")
class MaskedWord(EvalTask):
    name = "masked_word"

    def run(self, ctx: EvalContext) -> dict[str, Any]:
        k, train, test = ctx.cfg.eval.top_k, ctx.data.train, ctx.data.test
        if getattr(ctx.trained, "word_encoder", None) is None or test.focus is None:
            raise ConfigError(f"eval task masked_word reads a text JEPA's word predictions (method textjepa, "
                              f"method.targets=words) on texts with a focus word (toy_sentences); this run "
                              f"({ctx.cfg.method.name} on {ctx.data.name}) has none: eval.tasks=[text_probes]")
        truth = test.ids.gather(1, test.focus[:, None])  # (S, 1)
        seen_objects = train.ids.gather(1, train.focus[:, None])[:, 0]
        frequent = torch.bincount(seen_objects, minlength=len(train.vocab)).topk(k).indices
        guessed = {"trained": guesses(ctx.trained, test, k), "random_init": guesses(ctx.random_init, test, k),
                   "unigram": frequent.expand(len(test), k)}
        category = object_categories(train)
        results: dict[str, Any] = {}
        for name, ids in guessed.items():
            results[name] = {"top1": float((ids[:, :1] == truth).any(1).float().mean()),
                             f"top{k}": float((ids == truth).any(1).float().mean()),
                             "category": float((category[ids[:, 0]] == test.labels).float().mean())}
            log.info("%-11s top1 %.3f  top%d %.3f  category %.3f", name, results[name]["top1"], k,
                     results[name][f"top{k}"], results[name]["category"])
        with torch.no_grad():
            table = ctx.trained.word_table().float()
        masked_word = {"top1": results["trained"]["top1"], "top5": results["trained"][f"top{k}"],
                       "unigram_top5": results["unigram"][f"top{k}"], "k": k, **{n: results[n] for n, _ in ROWS},
                       "rankme": float(rankme(table)), "token_std": float(token_std(table[:, None]))}
        return {"masked_word": masked_word}

    def pictures(self, ctx: EvalContext) -> list[Path]:
        """``plots/word_map.png``: the trained word table's first two principal components, objects coloured by
        category."""
        train = ctx.data.train
        with torch.no_grad():
            table = ctx.trained.word_table().float().cpu()
        words = len(SPECIAL)  # the special words are left off the map
        return [save_word_map(table[words:], train.vocab[words:], object_categories(train)[words:], train.classes,
                              ctx.run_dir / "plots" / "word_map.png")]

    def table(self, results: dict[str, Any]) -> str:
        entry = results["masked_word"]
        k = entry["k"]
        lines = [f"the object of each test sentence hidden; word table RankMe {entry['rankme']:.1f}, std over the "
                 f"vocabulary {entry['token_std']:.3f}",
                 f"{'':22}{'top-1':>10}{f'top-{k}':>10}{'category':>10}"]
        for key, title in ROWS:
            row = entry[key]
            lines.append(f"{title:22}{row['top1']:>10.3f}{row[f'top{k}']:>10.3f}{row['category']:>10.3f}")
        return "\n".join(lines)
