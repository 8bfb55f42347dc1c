import gzip
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from openjepa.core.errors import ConfigError, DataError
from openjepa.data.digits import load_digits
from openjepa.data.shapes import CLASSES, make_shapes
from openjepa.modalities.image import ImageDataConfig as DataConfig
from openjepa.modalities.registry import load_data
from openjepa.modalities.video import VideoDataConfig
from openjepa.runs.config import build_config, recipe_dict


def _write_images(folder, n, size=(12, 12), mode="L", seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = size[::-1] + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")


def test_class_folders_with_a_stratified_split(tmp_path):
    for c in ("cat", "dog"):
        _write_images(tmp_path / c, 10)
    data = load_data(DataConfig(dataset=str(tmp_path), test_fraction=0.2))
    assert data.train.classes == ["cat", "dog"] and data.channels == 1 and data.image_size == (12, 12)
    assert len(data.train) == 16 and len(data.test) == 4
    assert sorted(data.test.labels.tolist()) == [0, 0, 1, 1]


def test_train_and_test_folders_and_rgb_promotion(tmp_path):
    _write_images(tmp_path / "train" / "a", 4, mode="RGB")
    _write_images(tmp_path / "train" / "b", 4)
    _write_images(tmp_path / "test" / "a", 2)
    _write_images(tmp_path / "test" / "b", 2)
    data = load_data(DataConfig(dataset=str(tmp_path)))
    assert data.channels == 3 and len(data.train) == 8 and len(data.test) == 4
    assert data.test.labels.tolist() == [0, 0, 1, 1]


def test_resize_to_image_size(tmp_path):
    _write_images(tmp_path / "a", 3, size=(20, 10))
    _write_images(tmp_path / "b", 3, size=(10, 10))
    with pytest.raises(DataError, match=r"differ in size.*data.image_size"):
        load_data(DataConfig(dataset=str(tmp_path)))
    data = load_data(DataConfig(dataset=str(tmp_path), image_size=8, test_fraction=0.0))
    assert data.train.images.shape == (6, 1, 8, 8)


def test_empty_missing_and_corrupt_inputs_give_clear_errors(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found in .*empty"):
        load_data(DataConfig(dataset=str(tmp_path / "empty")))
    with pytest.raises(DataError, match="data not found: .*nowhere.*built-in"):
        load_data(DataConfig(dataset=str(tmp_path / "nowhere")))
    _write_images(tmp_path / "bad" / "a", 3)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png.*skip_corrupt"):
        load_data(DataConfig(dataset=str(tmp_path / "bad")))
    data = load_data(DataConfig(dataset=str(tmp_path / "bad"), skip_corrupt=True, test_fraction=0.0))
    assert len(data.train) == 3


def _write_idx(path, array, gz=False):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


def test_idx_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (20, 28, 28)), rng.integers(0, 256, (5, 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train, gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 10, gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(5))
    data = load_data(DataConfig(dataset=str(tmp_path)))
    assert data.train.images.shape == (20, 1, 28, 28) and len(data.train.classes) == 10
    assert np.array_equal(data.train.images[:, 0].numpy(), train) and data.test.labels.tolist() == [0, 1, 2, 3, 4]


def test_truncated_idx_file_is_an_error(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 5, 5)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 5, 5)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2))
    raw = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-7])
    with pytest.raises(DataError, match="header says shape"):
        load_data(DataConfig(dataset=str(tmp_path)))


def test_cifar10_and_cifar100_batches(tmp_path):
    rng = np.random.default_rng(0)
    c10 = tmp_path / "c10"
    c10.mkdir()
    for name, n in [("data_batch_1", 6), ("data_batch_2", 4), ("test_batch", 3)]:
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        pickle.dump(entry, open(c10 / name, "wb"))
    pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, open(c10 / "batches.meta", "wb"))
    data = load_data(DataConfig(dataset=str(c10)))
    assert data.train.images.shape == (10, 3, 32, 32) and data.train.classes[3] == "c3"
    first = pickle.load(open(c10 / "data_batch_1", "rb"))[b"data"][0]
    assert np.array_equal(data.train.images[0].numpy().reshape(-1), first)

    c100 = tmp_path / "c100"
    c100.mkdir()
    for name, n in [("train", 5), ("test", 2)]:
        pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     b"fine_labels": list(rng.integers(0, 100, n))}, open(c100 / name, "wb"))
    pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, open(c100 / "meta", "wb"))
    data = load_data(DataConfig(dataset=str(c100)))
    assert len(data.train) == 5 and len(data.train.classes) == 100


def test_shapes_are_deterministic_balanced_and_varied():
    a, b = make_shapes(60, seed=3), make_shapes(60, seed=3)
    assert torch.equal(a.images, b.images) and a.images.shape == (60, 3, 32, 32)
    assert torch.bincount(a.labels, minlength=len(CLASSES)).tolist() == [6] * len(CLASSES)
    same_class = a.images[a.labels == 0].float()
    assert same_class.std(0).mean() > 20  # colour, position and background vary within a class


def test_builtin_digits():
    data = load_digits(size=16)
    assert data.channels == 1 and data.image_size == (16, 16) and len(data.train) + len(data.test) == 1797


def test_train_size_sizes_a_generated_video_builtin():
    data = load_data(VideoDataConfig(dataset="sprites", frames=4, image_size=16, train_size=40))
    assert (len(data.train), len(data.test)) == (40, 1000)
    with pytest.raises(ConfigError, match=r"train_size must be at least 1"):
        build_config(recipe_dict("vjepa2_tiny"), ["data.train_size=0"])


def test_a_builtin_of_another_modality_is_refused_by_name():
    with pytest.raises(DataError, match="'shapes' is a built-in image dataset but this recipe reads video data"):
        load_data(VideoDataConfig(dataset="shapes", frames=4, image_size=16))


def test_video_builtins_name_their_wall_share():
    counts = {}
    for name in ("sprites", "sprites_walls", "sprites_no_walls", "sprites_noisy"):
        data = load_data(VideoDataConfig(dataset=name, frames=4, image_size=16, train_size=30))
        assert data.name == name
        counts[name] = int((data.train.labels["wall"] > 0).sum())
    assert counts == {"sprites": 10, "sprites_walls": 30, "sprites_no_walls": 0, "sprites_noisy": 0}
