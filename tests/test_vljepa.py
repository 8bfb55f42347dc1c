"""VL-JEPA: the frozen text encoders, captioned data (built-in, folders, templates), InfoNCE with shared captions,
training, zero-shot evaluation and the caption command."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from cli_process import run_cli
from PIL import Image

from openjepa.core.errors import ConfigError, DataError
from openjepa.data.caption_folder import load_caption_folder
from openjepa.data.captioned_shapes import CLASSES, make_captioned_shapes, place_words
from openjepa.data.captions import template_captions
from openjepa.data.images import ImageSet
from openjepa.eval.tasks.zero_shot import recall_at
from openjepa.interop.text_embedders import (
    HFTextEmbedder,
    TextEncoderConfig,
    WordLlamaEmbedder,
    build_text_embedder,
    wordllama_folder,
)
from openjepa.objectives.infonce import infonce, same_text


def wordllama_or_skip() -> WordLlamaEmbedder:
    try:
        return WordLlamaEmbedder()
    except ImportError as err:
        pytest.skip(f"the vl extra is not installed ({err})")


def test_wordllama_embeddings_equal_the_packages_own(tmp_path):
    ours = wordllama_or_skip()
    texts = ["a small red star at the top left", "there is a large blue ring", "circle", ""]
    from wordllama import WordLlama

    # the package's loader looks for its tokenizer in tokenizers/ of a cache folder: give it one, offline
    for sub, pattern in (("tokenizers", "*.json"), ("weights", "*.safetensors")):
        (tmp_path / sub).mkdir()
        for f in (wordllama_folder() / sub).glob(pattern):
            shutil.copy(f, tmp_path / sub / f.name)
    theirs = WordLlama.load(dim=256, disable_download=True, cache_dir=tmp_path).embed(texts)
    mine = ours(texts)
    assert mine.shape == (4, 256)
    np.testing.assert_allclose(mine.numpy(), theirs, atol=1e-6)
    encoded = []
    ours.encode = lambda new, device: encoded.append(new) or torch.zeros(len(new), 256)
    assert torch.equal(ours(["circle", "a new caption"])[0], mine[2]) and encoded == [["a new caption"]]  # cached


def write_tiny_bert(folder):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "star", "blue", "ring", "on", "the", "left"]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)


def test_an_hf_text_encoder_folder_averages_real_tokens_only(tmp_path):
    write_tiny_bert(tmp_path / "bert")
    embedder = HFTextEmbedder(str(tmp_path / "bert"), max_length=16)
    alone = embedder(["a red star"])
    padded = embedder.encode(["a red star", "a blue ring on the left on the left"], torch.device("cpu"))
    assert embedder.dim == 32 and padded.shape == (2, 32)
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-5)  # padding does not change the mean


@pytest.mark.parametrize("make, expected", [
    (lambda p: None, "text encoder folder not found"),
    (lambda p: p.mkdir(), "does not load as a transformers model"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text("{not json")), "does not load as a transformers model"),
])
def test_a_text_encoder_folder_that_does_not_load_says_so_in_one_line(tmp_path, make, expected):
    folder = tmp_path / "enc"
    make(folder)
    with pytest.raises(DataError, match=expected) as err:
        HFTextEmbedder(str(folder), max_length=8)
    assert "\n" not in str(err.value)


def test_text_encoder_settings_are_checked():
    with pytest.raises(ConfigError, match="needs method.text_encoder.path"):
        build_text_embedder(TextEncoderConfig(kind="hf"))
    with pytest.raises(ValueError, match="read by kind hf only"):
        TextEncoderConfig(kind="wordllama", path="x").validate()


def test_infonce_counts_images_with_the_same_caption_as_positives():
    torch.manual_seed(0)
    texts = ["a red star", "a red star", "a blue ring", "a green cross"]
    b = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    b[1] = b[0]  # the same caption embeds the same
    perfect = b.clone()
    naive = infonce(perfect, b, 50.0)  # diagonal only: the duplicate is pushed away as a negative
    shared = infonce(perfect, b, 50.0, same_text(texts))
    assert naive > math.log(2) * 0.9 / 2 and shared < 1e-3
    assert same_text(texts).sum() == 6
    with pytest.raises(ValueError, match="pairs rows"):
        infonce(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)


def test_infonce_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    a, b = torch.randn(8, 16), torch.randn(8, 16)
    exact = infonce(a, b, 100.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = infonce(a, b, 100.0)
    assert cast.dtype == torch.float32 and torch.allclose(cast, exact)


def test_recall_at_k_counts_any_true_caption_and_k_beyond_the_pool():
    has = torch.tensor([[True, False, False], [False, False, True], [False, True, True]])
    ranked = torch.tensor([[0, 1, 2], [0, 1, 2], [0, 2, 1]])
    assert recall_at(has, ranked, (1, 2, 5)) == pytest.approx({1: 1 / 3, 2: 2 / 3, 5: 1.0})


def test_captioned_shapes_say_shape_colour_size_and_place():
    data = make_captioned_shapes(40, seed=3, size=48)
    again = make_captioned_shapes(40, seed=3, size=48)
    assert torch.equal(data.images, again.images) and data.captions == again.captions
    assert data.images.shape == (40, 3, 48, 48)
    for (caption,), label in zip(data.captions, data.labels.tolist()):
        assert f" {CLASSES[label]} " in caption and ("small" in caption or "large" in caption)
    assert data.prompts[CLASSES.index("arrow")] == "an arrow"
    assert {place_words(r, c) for r in range(3) for c in range(3)} >= {"at the top left", "in the centre",
                                                                         "on the right", "at the bottom"}
    pool, has = data.subset(np.arange(10)).unique_captions()
    assert has.shape == (10, len(pool)) and bool((has.sum(1) == 1).all())


def test_a_template_captions_images_by_class_name():
    split = ImageSet(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 1]), ["tabby_cat", "dog"])
    captioned = template_captions(split, "a photo of a {}")
    assert captioned.captions == [("a photo of a tabby cat",), ("a photo of a dog",), ("a photo of a dog",)]
    assert captioned[1][1] == {"label": torch.tensor(1), "caption": "a photo of a dog"}
    with pytest.raises(ConfigError, match="one '{}'"):
        template_captions(split, "a photo")


def write_captioned_folder(root, rows, extra_images=()):
    """Images ``root/<class>/<name>.png`` for every image named in ``rows`` (image, caption) and in
    ``extra_images``; ``captions.csv`` from ``rows``."""
    rng = np.random.default_rng(0)
    for name in {r[0] for r in rows} | set(extra_images):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
    lines = ["image,caption"] + [f"{image},{caption}" for image, caption in rows]
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    return root


def test_a_caption_folder_reads_several_captions_per_image_and_its_classes(tmp_path):
    rows = [(f"{cls}/{i}.png", f"a {cls} number {i}") for cls in ("cat", "dog") for i in range(5)]
    rows.append(("cat/0.png", "a cat, sitting"))  # a second caption, with a comma
    data = load_caption_folder(write_captioned_folder(tmp_path / "pets", rows), prompt="a photo of a {}",
                               test_fraction=0.2)
    assert data.train.classes == ["cat", "dog"] and data.train.prompts == ["a photo of a cat", "a photo of a dog"]
    assert len(data.train) == 8 and len(data.test) == 2
    both = next(c for c in data.train.captions + data.test.captions if len(c) == 2)
    assert both == ("a cat number 0", "a cat, sitting")
    split = data.train if both in data.train.captions else data.test
    index = split.captions.index(both)
    seen = {split.caption_of(index, epoch) for epoch in range(20)}
    assert seen == set(both)  # every caption is drawn over the epochs


@pytest.mark.parametrize("rows, extra, header, expected", [
    ([("a.png", "one")], ["b.png"], None, "1 of the 2 images in .* have no caption in captions.csv \\(first: b.png"),
    ([("a.png", "one"), ("gone.png", "two")], [], None, "names 1 images that .* does not hold \\(first: gone.png"),
    ([("a.png", "one")], [], "file,text", "expected the header image,caption"),
    ([("a.png", "")], [], None, "line 2: no caption for 'a.png'"),
])
def test_bad_caption_folders_are_named_in_one_line(tmp_path, rows, extra, header, expected):
    root = write_captioned_folder(tmp_path / "imgs", [r for r in rows if r[0] != "gone.png"], extra)
    text = (["image,caption"] if header is None else [header]) + [f"{a},{b}" for a, b in rows]
    (root / "captions.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=expected) as err:
        load_caption_folder(root, prompt="a {}")
    assert "\n" not in str(err.value)


def test_flickr8k_layout_names_images_by_file_name_and_train_test_folders_split(tmp_path):
    root = tmp_path / "flickr"
    write_captioned_folder(root, [("Images/1.jpg", "a dog runs"), ("Images/2.jpg", "two kids")])
    (root / "captions.csv").rename(root / "captions.txt")
    (root / "captions.txt").write_text("image,caption\n1.jpg,a dog runs\n1.jpg,a brown dog\n2.jpg,two kids\n")
    data = load_caption_folder(root, prompt="a {}", test_fraction=0.5)
    assert sorted(data.train.captions + data.test.captions) == [("a dog runs", "a brown dog"), ("two kids",)]
    assert data.train.classes == []  # one folder is no classes
    split = write_captioned_folder(tmp_path / "split", [(f"{part}/{cls}/{i}.png", f"a {cls}") for part in
                                                        ("train", "test") for cls in ("cat", "dog") for i in range(2)])
    data = load_caption_folder(split, prompt="a {}")
    assert data.train.classes == ["cat", "dog"] and len(data.train) == 4 and len(data.test) == 4


def test_a_captions_file_that_is_not_utf8_text_says_so(tmp_path):
    root = write_captioned_folder(tmp_path / "imgs", [("a.png", "one")])
    (root / "captions.csv").write_bytes("image,caption\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text"):
        load_caption_folder(root, prompt="a {}")


SMALL = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "encoder.patch_size=4",
         "method.predictor.width=32", "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=32",
         "eval.batch_size=64", "data.image_size=16"]


def test_vljepa_trains_on_a_captioned_folder_evaluates_zero_shot_and_captions_images(tmp_path):
    wordllama_or_skip()
    rows = [(f"{cls}/{i}.png", f"a {colour} {cls}") for cls in ("cat", "dog", "bird")
            for i, colour in enumerate(["red", "blue", "green", "black"] * 5)]
    data, run = write_captioned_folder(tmp_path / "pets", rows), tmp_path / "run"
    done = run_cli(["train", "vljepa_tiny", "--data", str(data), "--out", str(run), "--steps", "6", "--quiet",
                    "eval.tasks=[zero_shot]", *SMALL])
    assert done.code == 0, done.err
    done = run_cli(["eval", str(run)])
    assert done.code == 0, done.err
    result = json.loads((run / "eval.json").read_text())  # the contract
    assert set(result["zero_shot"]) >= {"trained", "random_init", "chance"}
    assert result["zero_shot"]["chance"] == pytest.approx(1 / 3)
    assert set(result["retrieval"]) >= {"r1", "r5"} and 0 <= result["retrieval"]["r1"] <= result["retrieval"]["r5"]
    assert (run / "plots" / "captions.png").is_file()
    done = run_cli(["caption", str(run), str(data / "cat" / "0.png"), "-k", "2"])
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].endswith("0.png") and len(lines) == 3 and lines[1].split()[1] == "a"
    pool = tmp_path / "pool.txt"
    pool.write_text("a red cat\na blue dog\n")
    done = run_cli(["caption", str(run), str(data / "cat" / "0.png"), "--captions", str(pool), "-k", "5"])
    assert done.code == 0 and len(done.out.splitlines()) == 3  # only the two captions of the file
    pool.write_bytes(b"\xff\xfe\x00bad")
    failed = run_cli(["caption", str(run), str(data / "cat" / "0.png"), "--captions", str(pool)])
    assert failed.code != 0 and "--captions" in failed.err and "Traceback" not in failed.err


def test_image_data_without_captions_asks_for_a_template_or_a_captions_file(tmp_path):
    wordllama_or_skip()
    run = tmp_path / "run"
    failed = run_cli(["train", "vljepa_tiny", "--data", "digits", "--out", str(run), "--steps", "2", *SMALL])
    assert failed.code != 0 and "digits has no captions: set data.captions" in failed.err
    assert "Traceback" not in failed.err
    done = run_cli(["train", "vljepa_tiny", "--data", "digits", "--out", str(run), "--steps", "2", "--quiet",
                    "data.captions=the digit {}", *SMALL])
    assert done.code == 0, done.err


def test_a_frozen_encoder_without_one_to_take_is_refused(tmp_path):
    wordllama_or_skip()
    failed = run_cli(["train", "vljepa_tiny", "--out", str(tmp_path / "r"), "--steps", "2", "--data", "digits",
                      "data.captions=the digit {}", "method.freeze_encoder=true", *SMALL])
    assert failed.code != 0 and "pass --encoder RUN" in failed.err and "Traceback" not in failed.err


def tiny_hf_encoder(kind: str):
    """A transformers I-JEPA or V-JEPA 2 model reading 16 px RGB, and how it encodes images ``(B, 3, 16, 16)``
    (V-JEPA 2: each image repeated into one 2-frame tubelet)."""
    import transformers

    torch.manual_seed(0)
    if kind == "ijepa":
        hf = transformers.IJepaModel(transformers.IJepaConfig(
            hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96, image_size=16,
            patch_size=4, num_channels=3)).eval()
        return hf, lambda x: hf(pixel_values=x).last_hidden_state
    hf = transformers.VJEPA2Model(transformers.VJEPA2Config(
        hidden_size=48, num_hidden_layers=2, num_attention_heads=4, pred_hidden_size=32, pred_num_hidden_layers=1,
        pred_num_attention_heads=4, crop_size=16, frames_per_clip=4, patch_size=4, tubelet_size=2)).eval()
    return hf, lambda x: hf(pixel_values_videos=x[:, None].expand(-1, 2, -1, -1, -1)).last_hidden_state


@pytest.mark.parametrize("kind", ["ijepa", "vjepa2"])
def test_vljepa_on_a_frozen_hf_encoder_reads_images_as_transformers_does(tmp_path, kind):
    wordllama_or_skip()
    hf, theirs = tiny_hf_encoder(kind)
    hf.save_pretrained(tmp_path / "hf")
    rows = [(f"{cls}/{i}.png", f"a {cls}") for cls in ("cat", "dog") for i in range(20)]
    data, run = write_captioned_folder(tmp_path / "pets", rows), tmp_path / "run"
    done = run_cli(["train", "vljepa_tiny", "--data", str(data), "--encoder", str(tmp_path / "hf"), "--out", str(run),
                    "--steps", "3", "--quiet", "method.freeze_encoder=true", "eval.tasks=[zero_shot]",
                    "method.predictor.width=32", "method.predictor.depth=1", "method.predictor.heads=2",
                    "train.batch_size=16"])
    assert done.code == 0, done.err
    from openjepa.runs.build import load_trained_method

    cfg, method = load_trained_method(run)
    assert cfg.data.mean == [0.485, 0.456, 0.406]  # no preprocessor_config.json: ImageNet's
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        ours = method.encoder(method.encoder.as_input(x))
        torch.testing.assert_close(ours, theirs(x), atol=1e-4, rtol=1e-4)  # trained 3 steps, the encoder stayed


def test_numbered_classes_take_their_names_for_the_captions(tmp_path):
    from openjepa.modalities.image_text import ImageTextDataConfig, ImageTextModality

    cfg = ImageTextDataConfig(dataset="digits", captions="the digit {}", class_names=[
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    data = ImageTextModality().load(cfg)
    label = int(data.test.labels[0])
    assert data.test.captions[0] == (f"the digit {cfg.class_names[label]}",)
    assert data.test.prompts[3] == "the digit three"
    with pytest.raises(ConfigError, match="has 2 names but digits has 10 classes"):
        ImageTextModality().load(ImageTextDataConfig(dataset="digits", captions="a {}", class_names=["a", "b"]))
