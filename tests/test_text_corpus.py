"""Text on real corpora: span masks drawn from the ids, users' .txt folders and their bad files, the byte-level BPE a
run carries, WordNet's dictionary files, the TF-IDF baseline, and ``textjepa`` with token targets trained, evaluated
and embedding texts end to end."""

import json
import logging

import numpy as np
import pytest
import torch
from cli_process import run_cli

from openjepa.core.errors import DataError
from openjepa.data import wordnet_glosses as wordnet
from openjepa.data.text_folder import load_text_folder
from openjepa.data.tokenizer import BPETokenizer, tokenizer_from_reader
from openjepa.eval.tfidf import tfidf_probes
from openjepa.masks.spans import SpanMaskConfig, draw_spans, positions_of

TOPICS = {
    "animals": ["the dog barked at the cat", "a horse ran across the field", "the bird sang in the tree",
                "a cow grazed near the barn", "the fox hid from the hounds", "a sheep followed the flock"],
    "cooking": ["she baked bread in the oven", "he stirred the soup with a spoon", "they fried eggs in butter",
                "the cake needs sugar and flour", "boil the pasta in salted water", "slice the onions thinly"],
    "weather": ["heavy rain fell all night", "the wind blew the clouds away", "snow covered the hills",
                "a storm is coming from the west", "the sun shone after the fog", "thunder rolled over the valley"],
}


def write_topics(root, repeats=4):
    for topic, texts in TOPICS.items():
        (root / topic).mkdir(parents=True)
        for r in range(repeats):
            for i, text in enumerate(texts):
                (root / topic / f"{r}_{i}.txt").write_text(f"{text}\n")
    return root


def test_spans_hide_a_share_of_each_texts_real_tokens_and_never_padding():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1, 2, 7, 20, 32])
    ids = (torch.arange(32)[None] < lengths[:, None]).long() * 5
    config = SpanMaskConfig(ratio=(0.3, 0.3), span=(2, 4))
    hidden = draw_spans(ids, config, gen)
    assert not (hidden & (ids == 0)).any()
    assert hidden.sum(1).tolist() == [0, 1, 2, 6, 10]  # round(0.3 * length), at least 1, at most length - 1
    again = draw_spans(ids, config, torch.Generator().manual_seed(0))
    assert torch.equal(hidden, again)  # drawn from the generator alone: a resumed run draws the same spans
    one = draw_spans(ids, SpanMaskConfig(ratio=(0.0, 0.0), span=(1, 1), focus_rate=1.0), gen,
                     focus=torch.tensor([0, 1, 3, 4, 5]))
    assert one.sum(1).tolist() == [0, 1, 1, 1, 1] and one[torch.arange(1, 5), torch.tensor([1, 3, 4, 5])].all()


def test_positions_of_lists_chosen_positions_first_and_marks_the_filler():
    chosen = torch.tensor([[False, True, False, True], [True, False, False, False]])
    idx, valid = positions_of(chosen)
    assert idx[:, :2].tolist() == [[1, 3], [0, 1]] and valid.tolist() == [[True, True], [True, False]]


def test_class_folders_of_txt_files_are_labelled_documents(tmp_path):
    corpus = load_text_folder(write_topics(tmp_path / "topics"), test_fraction=0.25)
    assert corpus.classes == ["animals", "cooking", "weather"]
    assert len(corpus.train.texts) == 54 and len(corpus.test.texts) == 18
    assert sorted(set(corpus.test.labels.tolist())) == [0, 1, 2]
    index = corpus.train.texts.index("the dog barked at the cat")
    assert corpus.train.labels[index] == 0


def test_a_folder_without_class_folders_is_one_text_a_line_unlabelled(tmp_path):
    (tmp_path / "lines.txt").write_text("first line\n\n  second line  \nthird\n")
    (tmp_path / "more.txt").write_text("fourth\nfifth\n")
    corpus = load_text_folder(tmp_path, test_fraction=0.2)
    assert corpus.classes is None
    assert sorted(corpus.train.texts + corpus.test.texts) == ["fifth", "first line", "fourth", "second line", "third"]


@pytest.mark.parametrize("content, expected", [(b"", "is empty"), (b"  \n\n", "is empty"),
                                               (b"abc\x00\x01def", "binary data"),
                                               (b"caf\xe9 au lait", "not UTF-8 text (byte 0xe9 at offset 3)")])
def test_bad_text_files_are_named_in_one_line_or_skipped(tmp_path, content, expected, caplog):
    root = write_topics(tmp_path / "topics", repeats=1)
    bad = root / "weather" / "bad.txt"
    bad.write_bytes(content)
    before = bad.read_bytes()
    with pytest.raises(DataError, match="bad.txt") as err:
        load_text_folder(root)
    assert expected in str(err.value) and "\n" not in str(err.value) and "skip_corrupt" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        corpus = load_text_folder(root, skip_corrupt=True)
    assert len(corpus.train.texts) + len(corpus.test.texts) == 18 and "bad.txt" in caplog.text
    assert bad.read_bytes() == before  # the user's file is left as it was


def test_an_empty_folder_says_what_it_expected(tmp_path):
    with pytest.raises(DataError, match=r"no \.txt files found"):
        load_text_folder(tmp_path)


def test_the_bpe_rebuilt_from_a_runs_reader_gives_the_same_ids():
    texts = [t for texts in TOPICS.values() for t in texts] * 3
    bpe = BPETokenizer.train(texts, vocab_size=300)
    assert bpe.vocab[:2] == ["<pad>", "<mask>"]
    ids = bpe.encode(["the dog baked bread", "naïve café ☃"], 12)  # any text has ids (byte level)
    assert ids.shape == (2, 12) and (ids[:, 0] > 1).all() and (ids[1] > 0).sum() > 3
    again = tokenizer_from_reader(json.loads(json.dumps(bpe.reader())))
    assert torch.equal(again.encode(["the dog baked bread", "naïve café ☃"], 12), ids)


def _fake_wordnet(folder):
    folder.mkdir(parents=True)
    lines = {"noun": ["00001740 03 n 01 entity 0 000 | that which is perceived to exist; \"an example\"",
                      "02084071 05 n 01 dog 0 000 | a member of the genus Canis; \"the dog barked\""],
             "verb": ["01835496 38 v 01 travel 0 000 | change location; move, travel, or proceed"],
             "adj": ["00001740 00 a 01 able 0 000 | having the necessary means or skill"],
             "adv": ["00001740 02 r 01 very 0 000 | used as an intensifier"]}
    for part, rows in lines.items():
        (folder / f"data.{part}").write_text("  1 This software and database is licensed\n" + "\n".join(rows) + "\n")


def test_wordnet_definitions_are_read_with_their_lexicographer_file(tmp_path):
    _fake_wordnet(tmp_path / "wordnet")
    texts, labels = wordnet.read_glosses(tmp_path / "wordnet")
    assert texts[1] == "a member of the genus Canis" and "change location; move, travel, or proceed" in texts
    assert [wordnet.LEXNAMES[i] for i in labels] == ["noun.Tops", "noun.animal", "verb.motion", "adj.all", "adv.all"]
    assert len(wordnet.LEXNAMES) == 45


def test_missing_wordnet_files_say_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setattr(wordnet, "wordnet_folders", lambda: [tmp_path / "nowhere"])
    with pytest.raises(DataError, match="make wordnet"):
        wordnet.find_wordnet()


def test_tfidf_reads_topics_from_their_words(tmp_path):
    corpus = load_text_folder(write_topics(tmp_path / "topics", repeats=3), test_fraction=0.25)
    scores = tfidf_probes(corpus.train.texts, corpus.train.labels, corpus.test.texts, corpus.test.labels, k=5)
    assert scores["knn"] == 1.0 and scores["linear"] >= 0.9  # the test texts repeat training texts word for word


SMALL = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=32",
         "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=16", "data.vocab_size=300",
         "data.test_fraction=0.25", "eval.batch_size=64"]


def test_textjepa_on_a_folder_trains_evaluates_and_embeds_texts(tmp_path):
    data, run = write_topics(tmp_path / "topics"), tmp_path / "run"
    done = run_cli(["train", "textjepa_tiny", "--data", str(data), "--out", str(run), "--steps", "12", "--quiet",
                    *SMALL])
    assert done.code == 0, done.err
    done = run_cli(["eval", str(run)])
    assert done.code == 0, done.err
    result = json.loads((run / "eval.json").read_text())  # the contract: top-level "knn" and "linear"
    for probe in ("knn", "linear"):
        assert set(result[probe]) == {"trained", "random_init", "raw_input"}
        assert all(0 <= v <= 1 for v in result[probe].values())
    assert result["knn"]["raw_input"] == 1.0
    assert "characters, in config.yaml" in (run / "report.html").read_text()  # the tokenizer is not printed
    texts = tmp_path / "a.txt"
    texts.write_text("the cat chased a bird")
    out = tmp_path / "emb.npy"
    done = run_cli(["embed", str(run), str(texts), "a storm with rain and wind", "--out", str(out)])
    assert done.code == 0, done.err
    assert np.load(out).shape == (2, 32)
    done = run_cli(["similarity", str(run), "the dog barked", "the dog barked"])
    assert done.code == 0 and abs(float(done.out) - 1) < 1e-5
    for bad, expected in ((["missing.txt"], "not found"), ([""], "is empty")):
        failed = run_cli(["embed", str(run), *bad, "--out", str(tmp_path / "x.npy")])
        assert failed.code != 0 and expected in failed.err and "Traceback" not in failed.err


def test_the_installed_wordnet_has_its_117659_definitions_in_45_classes():
    try:
        folder = wordnet.find_wordnet()
    except DataError as err:
        pytest.skip(f"WordNet is not installed here ({err})")
    texts, labels = wordnet.read_glosses(folder)
    assert len(texts) == 117659 and len(set(labels.tolist())) == 45 and all(texts)
