"""classify, similarity and search through the API and the CLI, on an image run, a video run (clips as files) and
HF I-JEPA folders made by transformers; the probe `openjepa eval` saves classifies as eval measured it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_process import Outcome, changed, hashes, run_cli
from conftest import TINY, TINY_VIDEO
from PIL import Image
from safetensors.torch import load_file, save_file

import openjepa
from openjepa.errors import ConfigError, DataError, WeightsError
from openjepa.eval.evaluate import evaluate_run
from openjepa.eval.saved_probe import SavedProbe
from openjepa.modalities.registry import load_data
from openjepa.runs.checkpoint import latest_checkpoint
from openjepa.runs.files import load_run_config


def _cli(*args) -> Outcome:
    return run_cli(list(args))


def _refused(*args, says: str) -> None:
    """The command exits 2 with one line on stderr that contains ``says``."""
    proc = _cli(*args)
    lines = proc.err.strip().splitlines()
    assert proc.code == 2 and len(lines) == 1 and "Traceback" not in proc.err, proc.err
    assert says in lines[0], lines[0]


def _export_images(images: torch.Tensor, labels: torch.Tensor, classes: list[str], root: Path) -> list[Path]:
    """uint8 images ``(N, C, H, W)`` (C: 1 or 3) as PNG files in class folders."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        path = root / classes[int(label)] / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).squeeze(2).numpy()).save(path)  # grey: (H, W)
        paths.append(path)
    return paths


def _export_clips(clips: torch.Tensor, labels: torch.Tensor, classes: list[str], root: Path) -> list[Path]:
    """uint8 clips ``(N, 3, T, H, W)`` as lossless (PNG-coded) .avi files in class folders."""
    import av

    paths = []
    for i, (clip, label) in enumerate(zip(clips, labels)):
        path = root / classes[int(label)] / f"{i:04d}.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("png", rate=10)
            stream.height, stream.width = clip.shape[2:]
            stream.pix_fmt = "rgb24"
            for frame in clip.permute(1, 2, 3, 0).numpy():
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        paths.append(path)
    return paths


def _image_run(root: Path, dataset: str) -> tuple[Path, list[Path]]:
    """A 3-step run on a built-in 16 px dataset, evaluated (the linear probe fitted on at most 1000 training
    images), and the dataset's whole test split as PNG files in class folders."""
    run = openjepa.train("ijepa_tiny", root / "run", progress=False,
                         overrides=[*TINY, f"data.dataset={dataset}", "train.steps=3", "train.minutes=null"])
    cfg = load_run_config(run)
    data = load_data(cfg.data, spec=cfg.spec)
    evaluate_run(run, settings=["eval.max_train=1000"], dataset=data)
    return run, _export_images(data.test.images, data.test.labels, data.test.classes, root / "test")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """3 steps leave the encoder near chance on shapes (2000 test images)."""
    return _image_run(tmp_path_factory.mktemp("shapes"), "shapes")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """On digits (359 grey test images) even 3 steps read well above chance."""
    return _image_run(tmp_path_factory.mktemp("digits"), "digits")


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    """A 2-step vjepa_tiny run on 4-frame 16 px sprites (tokens encoded step by step), evaluated, and its
    dataset."""
    pytest.importorskip("av")
    root = tmp_path_factory.mktemp("sprites")
    run = openjepa.train("vjepa_tiny", root / "run", progress=False,
                         overrides=[*TINY_VIDEO, "data.train_size=96", "train.steps=2", "train.minutes=null"])
    cfg = load_run_config(run)
    data = load_data(cfg.data, spec=cfg.spec)
    evaluate_run(run, dataset=data)
    return run, data


@pytest.mark.parametrize("dataset, test_images", [("shapes", 2000), ("digits", 359)])
def test_classify_reproduces_the_linear_accuracy_eval_reported(dataset, test_images, request):
    run, files = request.getfixturevalue(dataset)
    results = json.loads((run / "eval.json").read_text())
    probe = SavedProbe.read(run / "eval.probe.safetensors")
    assert probe.meta["kind"] == "linear" and probe.meta["encoder"] == results["meta"]["encoder"] == "context"
    assert len(probe.classes) == 10 and set(probe.classes) == {f.parent.name for f in files}
    proc = _cli("classify", run, *files)
    assert proc.code == 0, proc.err
    rows = [line.split("\t") for line in proc.out.splitlines()]
    assert len(rows) == len(files) == test_images and all(len(row) == 3 for row in rows)
    assert [row[0] for row in rows] == [str(f) for f in files]
    assert all(row[1] in probe.classes and 0.1 <= float(row[2]) <= 1 for row in rows)  # 10 classes: top >= 1/10
    accuracy = np.mean([row[1] == f.parent.name for row, f in zip(rows, files)])
    assert accuracy == pytest.approx(results["linear"]["trained"], abs=0.005)
    assert dataset == "shapes" or accuracy > 0.5  # a probe that reads something: the features must match eval's
    assert openjepa.classify(run, files[:3]) == [(row[1], pytest.approx(float(row[2]), abs=1e-4)) for row in rows[:3]]


def test_the_saved_heads_apply_the_probes_as_fitted():
    from openjepa.eval.attentive import AttentiveProbeConfig, attentive_probe
    from openjepa.eval.probes import linear_probe

    torch.manual_seed(0)
    y = torch.randint(0, 3, (600,))
    x = F.one_hot(y, 3).float() @ torch.randn(3, 8) * 3 + torch.randn(600, 8) + 5  # offset: standardising matters
    fitted = linear_probe(x[:400], y[:400], x[400:], y[400:])
    head = fitted["head"]
    logits = ((x[400:] - head["mean"]) / head["std"]) @ head["weight"].T + head["bias"]
    assert float((logits.argmax(1) == y[400:]).float().mean()) == fitted["accuracy"] > 0.9
    tokens = x[:, None, :] + torch.randn(600, 4, 8) * 0.1  # (N, L, D)
    cfg = AttentiveProbeConfig(epochs=15, batch_size=32, weight_decays=(0.01,), self_attention_layers=1)
    fitted = attentive_probe(tokens[:400], y[:400], tokens[400:], y[400:], cfg)
    state = {f"head.{k}": v for k, v in fitted["model"].state_dict().items()}
    probe = SavedProbe({"mean": fitted["mean"], "std": fitted["std"], **state},
                       {"kind": "attentive", "classes": '["a", "b", "c"]', "heads": "4", "self_attention_layers": "1"})
    accuracy = float((probe.probabilities(tokens[400:]).argmax(1) == y[400:]).float().mean())
    assert accuracy == pytest.approx(fitted["accuracy"], abs=1e-6) and accuracy > 0.5  # chance: 1/3


def test_similarity_and_search_on_an_image_run(shapes, tmp_path):
    run, files = shapes
    folder = tmp_path / "photos"
    for f in files[::50]:  # 40 images, 4 of each class
        (folder / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, folder / f.parent.name / f.name)
    a, b = sorted(folder.glob("*/*.png"))[:2]
    features = torch.from_numpy(openjepa.embed(run, [a, b]))
    expected = float(F.cosine_similarity(features[:1], features[1:]))
    assert openjepa.similarity(run, a, b) == pytest.approx(expected, abs=1e-5)
    assert openjepa.similarity(run, a, a) == pytest.approx(1.0, abs=1e-5)
    proc = _cli("similarity", run, a, b)
    assert proc.code == 0 and float(proc.out) == pytest.approx(expected, abs=1e-5)
    assert len(proc.out.splitlines()) == 1

    proc = _cli("search", run, a, "--in", folder, "-k", 3)
    rows = [line.split("\t") for line in proc.out.splitlines()]
    assert proc.code == 0 and len(rows) == 3 and rows[0][0] == str(a), proc.out + proc.err
    scores = [float(score) for _, score in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(list((folder / ".openjepa-cache").glob("*.npz"))) == 1
    proc = _cli("search", run, a, b, "--in", folder, "-k", 2)
    lines = proc.out.splitlines()
    assert [lines[0], lines[3]] == [f"# {a}", f"# {b}"] and len(lines) == 6
    assert lines[1].split("\t")[0] == str(a) and lines[4].split("\t")[0] == str(b)
    assert openjepa.search(run, [a], folder, k=3) == [[(Path(p), pytest.approx(float(s), abs=1e-5)) for p, s in rows]]


def test_the_search_index_follows_the_folder_and_the_weights(shapes, tmp_path, monkeypatch, caplog):
    import openjepa.apps.search as search_module

    source, files = shapes
    run, folder = tmp_path / "run", tmp_path / "photos"
    shutil.copytree(source, run)
    folder.mkdir()
    for f in files[:12]:
        shutil.copy(f, folder / f.name)
    encoded = []
    embed = search_module.embed
    monkeypatch.setattr(search_module, "embed", lambda vit, inputs, **kw: encoded.append(len(inputs)) or
                        embed(vit, inputs, **kw))
    query = folder / files[0].name
    first = openjepa.search(run, [query], folder, k=12)
    assert encoded == [1, 12]  # the query, then the folder
    index = next((folder / ".openjepa-cache").glob("*.npz"))
    assert openjepa.search(run, [query], folder, k=12) == first and encoded[2:] == [1]  # the index as it was
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "new.png")
    (folder / files[5].name).unlink()
    shutil.copy(files[20], folder / files[6].name)  # other content under an old name
    found = openjepa.search(run, [query], folder, k=12)[0]
    assert encoded[3:] == [1, 2]  # only the new and the changed file
    assert {p.name for p, _ in found} == {p.name for p in folder.glob("*.png")} and len(found) == 12
    weights = latest_checkpoint(run) / "model.safetensors"
    state = load_file(weights)
    save_file({k: v + 0.01 for k, v in state.items()}, weights)
    openjepa.search(run, [query], folder, k=1)
    assert encoded[5:] == [1, 12]  # the weights changed: everything again
    assert [p.name for p in (folder / ".openjepa-cache").iterdir()] == [index.name]  # replaced, no temporary left
    with pytest.raises(WeightsError, match=f"openjepa eval {run}"):  # the probe was fitted on the old weights
        openjepa.classify(run, [query])
    shutil.rmtree(folder / ".openjepa-cache")
    (folder / ".openjepa-cache").write_text("in the way")  # as in a folder that cannot be written to
    with caplog.at_level("WARNING", logger="openjepa"):
        assert openjepa.search(run, [query], folder, k=2) == openjepa.search(run, [query], folder, k=2)
    assert "searching without it" in caplog.text and encoded[7:] == [1, 12, 1, 12]
    with pytest.raises(ConfigError, match="k must be at least 1"):
        openjepa.search(run, [query], folder, k=0)


def test_bad_input_is_one_line_and_exit_2(shapes, tmp_path):
    run, files = shapes
    empty, photos = tmp_path / "empty", tmp_path / "photos"
    empty.mkdir()
    photos.mkdir()
    shutil.copy2(files[0], photos / "a.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    unevaluated = tmp_path / "unevaluated"
    shutil.copytree(run, unevaluated, ignore=shutil.ignore_patterns("eval*"))
    before = {folder: hashes(folder) for folder in (run, tmp_path)}
    _refused("classify", unevaluated, files[0], says=f"run `openjepa eval {unevaluated}` first")
    _refused("classify", run, tmp_path / "broken.png", says="cannot read image")
    _refused("similarity", run, files[0], tmp_path / "missing.png", says="missing.png")
    _refused("search", run, files[0], "--in", photos, "-k", 0, says="-k: expected a positive integer")
    _refused("search", run, files[0], "--in", empty, says=f"no image files to search in {empty}")
    _refused("search", run, tmp_path / "missing.png", "--in", photos, says="missing.png")
    _refused("classify", tmp_path, files[0], says="neither an openjepa run")
    assert [p.name for p in photos.iterdir()] == ["a.png"]  # a failed search leaves no index behind
    assert all(not changed(hashes_before, hashes(folder)) for folder, hashes_before in before.items())


def test_classify_similarity_and_search_on_a_video_run(sprites, tmp_path):
    run, data = sprites
    results = json.loads((run / "eval.json").read_text())
    probe = SavedProbe.read(run / "eval.probe.safetensors")
    assert probe.meta["kind"] == "attentive" and probe.meta["tokens"] == "step" and not probe.pooled
    label = results["meta"]["label"]
    assert probe.meta["label"] == label and probe.classes == data.test.classes[label]
    # the saved probe (seed 0, the only one) reads the test split as eval did (eval keeps float16 tokens)
    vit = openjepa.load(run, encoder=probe.meta["encoder"])
    tokens = torch.from_numpy(openjepa.embed(vit, data.test.clips, tokens=True, per_step=True))
    predicted = probe.probabilities(tokens).argmax(1)
    accuracy = float((predicted == data.test.labels[label]).float().mean())
    assert accuracy == pytest.approx(results["attentive"]["trained"], abs=0.01)
    # files: the same clips, losslessly coded, classify as the clips in memory
    files = _export_clips(data.test.clips[:16], data.test.labels[label][:16], probe.classes, tmp_path / "clips")
    found = openjepa.classify(run, files)
    assert [name for name, _ in found] == [probe.classes[int(i)] for i in predicted[:16]]
    proc = _cli("classify", run, *files[:2])
    assert [line.split("\t")[:2] for line in proc.out.splitlines()] == [[str(f), n] for f, (n, _) in
                                                                          zip(files[:2], found)]
    a, b = files[:2]
    assert openjepa.similarity(run, a, a) == pytest.approx(1.0, abs=1e-5)
    assert -1 <= openjepa.similarity(run, a, b) < 1
    matches = openjepa.search(run, [a, b], tmp_path / "clips", k=4)
    assert [m[0][0] for m in matches] == [a, b] and all(len(m) == 4 for m in matches)
    assert matches[0][0][1] == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    """transformers' own IJepaForImageClassification (3 classes) and IJepaModel folders, 16 px, with
    preprocessor_config.json (mean and std 0.5)."""
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("hf")
    config = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16,
                  patch_size=4, layer_norm_eps=1e-6)
    torch.manual_seed(0)
    models = {
        "classifier": transformers.IJepaForImageClassification(transformers.IJepaConfig(
            **config, num_labels=3, id2label={0: "cat", 1: "dog", 2: "fox"}, label2id={"cat": 0, "dog": 1, "fox": 2})),
        "encoder": transformers.IJepaModel(transformers.IJepaConfig(**config)),
    }
    for name, model in models.items():
        model.eval().save_pretrained(root / name)
        (root / name / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3,
                                                                          "image_std": [0.5] * 3}))
    rng = np.random.default_rng(0)
    images = []
    for i in range(6):
        images.append(root / "images" / f"{i}.png")
        images[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(images[-1])
    pixels = torch.stack([torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1) for p in images])
    return models, root, images, (pixels.float() / 255 - 0.5) / 0.5


def test_hf_folders(hf_folders):
    models, root, images, pixels = hf_folders
    with torch.no_grad():
        probs = models["classifier"](pixel_values=pixels).logits.softmax(1)
        pooled = models["encoder"](pixel_values=pixels).last_hidden_state.mean(1)
    found = openjepa.classify(root / "classifier", images)
    assert [name for name, _ in found] == [["cat", "dog", "fox"][int(i)] for i in probs.argmax(1)]
    assert [p for _, p in found] == pytest.approx(probs.max(1).values.tolist(), abs=1e-5)
    proc = _cli("classify", root / "classifier", images[0])
    assert proc.out == f"{images[0]}\t{found[0][0]}\t{found[0][1]:.4f}\n"
    with pytest.raises(WeightsError, match="without a classification head"):
        openjepa.classify(root / "encoder", images)
    _refused("classify", root / "encoder", images[0], says="without a classification head")
    expected = float(F.cosine_similarity(pooled[:1], pooled[1:2]))
    assert openjepa.similarity(root / "encoder", images[0], images[1]) == pytest.approx(expected, abs=1e-5)
    matches = openjepa.search(root / "encoder", [images[2]], root / "images", k=6)[0]
    by_hand = F.cosine_similarity(pooled[2:3], pooled).argsort(descending=True)
    assert [p for p, _ in matches] == [images[int(i)] for i in by_hand]
    with pytest.raises(DataError, match="no image files"):
        openjepa.search(root / "encoder", [images[2]], root / "classifier")
    assert not (root / "classifier" / ".openjepa-cache").exists()
