"""Text JEPA on the built-in toy sentences: the grammar, the encoder that never reads the hidden word, the loss, the
collapse without SIGReg, evaluation and ``openjepa fill`` end to end."""

import json

import pytest
import torch
from cli_process import run_cli

from openjepa.core.errors import DataError
from openjepa.data.toy_sentences import CATEGORIES, make_sentences, vocabulary
from openjepa.modalities.registry import load_data
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec

SMALL = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=32",
         "method.predictor.depth=1", "method.predictor.heads=2", "method.word_hidden=32", "data.sentences=512",
         "data.test_sentences=128", "train.batch_size=64"]


def _method(overrides=()):
    cfg = build_config(recipe_dict("textjepa_toy"), SMALL + list(overrides))
    data = load_data(cfg.data)
    cfg = fill_spec(cfg, data)
    torch.manual_seed(0)
    return build_method(cfg), data


def test_each_sentence_holds_an_object_of_its_category_after_its_verb():
    split = make_sentences(300, seed=0)
    classes = list(CATEGORIES)
    assert vocabulary()[:2] == ["<pad>", "<mask>"] and len(split.texts) == 300
    for s in range(300):
        words = split.texts[s].split()
        assert len(words) <= 10 and set(words) <= set(vocabulary())
        verbs, objects = CATEGORIES[classes[split.labels[s]]]
        assert words[split.focus[s]] in objects
        assert any(" ".join(words[2:]).startswith(verb + " the") for verb in verbs)
    assert len(set(split.labels.tolist())) == len(CATEGORIES)


def test_the_toy_corpus_is_read_word_by_word_into_ids_of_its_closed_vocabulary():
    _, data = _method()
    vocab = data.train.vocab
    assert vocab == vocabulary() and data.train.ids.shape[1] == 10 and data.reader == {"vocab": vocab}
    words = data.train.texts[0].split()
    assert [vocab[i] for i in data.train.ids[0, : len(words)]] == words and data.train.ids[0, len(words):].eq(0).all()


def test_the_prediction_never_reads_the_hidden_word_or_the_padding():
    method, data = _method()
    method.eval()
    ids = data.test.ids[:8].clone()
    position = data.test.focus[:8]
    before = method.predict(ids, position)
    changed = ids.clone()
    changed[torch.arange(8), position] = 5  # another word where the object was
    assert torch.allclose(method.predict(changed, position), before, atol=1e-7)
    ids[:, 2] = 7  # but the verb is read (at initialisation the context moves the prediction by ~1e-4)
    assert (method.predict(ids, position) - before).abs().amax() > 1e-5
    scores = method.word_scores(before)
    assert scores.shape == (8, len(method.vocab)) and torch.isinf(scores[:, :2]).all()


def _train(method, data, steps):
    from openjepa.data.loader import TrainBatches

    opt = torch.optim.AdamW(method.parameters(), lr=1e-3)
    logs = None
    for batch in TrainBatches(data.train, 64, 0, prepare=lambda x: x.long()).iterate(0, steps):
        out = method(batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        logs = out.logs
    return logs


def test_without_sigreg_every_word_gets_the_same_embedding():
    torch.manual_seed(0)
    kept, data = _method()
    collapsed, _ = _method(["method.sigreg.weight=0"])
    kept_logs, collapsed_logs = _train(kept, data, 300), _train(collapsed, data, 300)
    assert collapsed_logs["pred_loss"] < 0.01 * kept_logs["pred_loss"]  # every prediction exact: a trivial solution
    assert collapsed_logs["token_std"] < 0.1 * kept_logs["token_std"]  # because every word has one embedding
    assert kept_logs["rankme"] > 15  # (RankMe centres and so is blind to the scale that std shows collapsing)


def test_train_eval_and_fill_on_the_command_line(tmp_path):
    run = tmp_path / "run"
    for args in (["train", "textjepa_toy", "--out", str(run), "--steps", "30", "--quiet", *SMALL], ["eval", str(run)]):
        done = run_cli(args)
        assert done.code == 0, done.err
    result = json.loads((run / "eval.json").read_text())["masked_word"]
    assert set(result) >= {"top1", "top5", "unigram_top5", "rankme", "token_std"}
    assert 0 <= result["top1"] <= result["top5"] <= 1 and 0 < result["unigram_top5"] < 0.5
    assert (run / "plots" / "word_map.png").stat().st_size > 0
    done = run_cli(["fill", str(run), "The cat climbed up the ___.", "-k", "3"])
    out = done.out.splitlines()
    assert len(out) == 3 and all(line.split()[0] in vocabulary()[2:] for line in out)
    for sentence, expected in (("the cat climbed up the tree", "one blank"),
                               ("the zebra climbed up the ___", "zebra"),
                               ("___ ___ climbed", "one blank")):
        failed = run_cli(["fill", str(run), sentence])
        assert failed.code != 0 and expected in failed.err


@pytest.mark.parametrize("dataset, expected", [("wikipedia", "neither a folder nor a built-in"),
                                               ("shapes", "built-in image dataset")])
def test_text_runs_refuse_other_data(dataset, expected):
    with pytest.raises(DataError, match=expected):
        _method([f"data.dataset={dataset}"])
