"""The point-cloud parts: files read back as unit-sphere clouds, folder layouts, the bad-file errors, farthest point
sampling, kNN groups, the PointNet tokenizer, Point-JEPA's sequencer, 3D-JEPA's neighbourhoods and the built-in
``shapes3d`` set with its occupancy-grid baseline."""

import numpy as np
import pytest
import torch

from openjepa.core.errors import DataError
from openjepa.data.point_files import normalize_cloud, read_points
from openjepa.data.point_folder import load_point_folder
from openjepa.data.points import PointData
from openjepa.data.registry import DATASETS
from openjepa.data.shapes3d import CLASSES, make_shapes3d, occupancy_features
from openjepa.nn.point_groups import (
    ball_groups,
    farthest_point_sample,
    group_points,
    knn_indices,
    nearest_groups,
    sequence_order,
    take,
)
from openjepa.nn.point_tokenizer import CentreEmbed, MiniPointNet, PointTokenizer

trimesh = pytest.importorskip("trimesh")

EXTENTS = np.array([2.0, 1.0, 0.5])


def _box(offset=(5.0, -3.0, 2.0)):
    return trimesh.creation.box(extents=EXTENTS).apply_translation(offset)


def _unit(cloud: np.ndarray, count: int, exact_radius: bool = True) -> None:
    assert cloud.shape == (count, 3) and cloud.dtype == np.float32
    radius = np.linalg.norm(cloud, axis=1).max()
    assert radius <= 1 + 1e-5 and (abs(radius - 1) < 1e-5 if exact_radius else radius > 0.8)


# ---------------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".ply", ".off", ".obj", ".stl"])
def test_meshes_are_sampled_on_their_surface(tmp_path, suffix):
    path = tmp_path / f"box{suffix}"
    _box().export(path)
    cloud = read_points(path, 300, seed=1)
    _unit(cloud, 300)
    assert np.abs(cloud.mean(0)).max() < 1e-5
    extent = cloud.max(0) - cloud.min(0)  # faces at the box's sides are sampled: its proportions come back
    np.testing.assert_allclose(extent / extent[0], EXTENTS / EXTENTS[0], atol=1e-4)
    np.testing.assert_array_equal(cloud, read_points(path, 300, seed=1))
    assert not np.array_equal(cloud, read_points(path, 300, seed=2))


def test_modelnet_off_header_quirk(tmp_path):
    box = trimesh.creation.box(extents=EXTENTS)  # some ModelNet files join "OFF" and the counts on one line
    rows = [f"OFF{len(box.vertices)} {len(box.faces)} 0"] + [" ".join(map(str, v)) for v in box.vertices]
    (tmp_path / "quirk.off").write_text("\n".join(rows + ["3 " + " ".join(map(str, f)) for f in box.faces]))
    cloud = read_points(tmp_path / "quirk.off", 100)
    extent = cloud.max(0) - cloud.min(0)
    np.testing.assert_allclose(extent / extent[0], EXTENTS / EXTENTS[0], atol=1e-4)


def test_point_ply_npy_npz_and_text_files(tmp_path):
    raw = np.random.default_rng(0).normal(size=(500, 3)) * [3, 2, 1] + 7
    expected = normalize_cloud(raw, 500)
    trimesh.PointCloud(raw).export(tmp_path / "cloud.ply")
    np.save(tmp_path / "cloud.npy", np.c_[raw, np.ones((500, 3))])  # extra columns (normals) are ignored
    np.savez(tmp_path / "named.npz", labels=np.zeros(3), points=raw)
    np.savez(tmp_path / "first.npz", raw)
    np.savetxt(tmp_path / "cloud.xyz", raw)
    np.savetxt(tmp_path / "cloud.txt", np.c_[raw, raw], delimiter=",", header="x,y,z,nx,ny,nz", comments="")
    for name in ["cloud.ply", "cloud.npy", "named.npz", "first.npz", "cloud.xyz", "cloud.txt"]:
        np.testing.assert_allclose(read_points(tmp_path / name, 500), expected, atol=1e-5, err_msg=name)
        fewer = read_points(tmp_path / name, 200, seed=3)  # subsampled: a subset of the cloud
        _unit(fewer, 200, exact_radius=False)
        assert np.isclose(fewer[:, None], expected[None], atol=1e-5).all(-1).any(1).all(), name
    more = read_points(tmp_path / "cloud.npy", 800)  # repeated: every point, some twice
    assert len(np.unique(more, axis=0)) == 500


def _write(path, content):
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("name, content, message", [
    ("broken.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 99\nproperty float x\n\x00\x01",
     "cannot read point file"),
    ("broken.npy", b"not an array", "not a NumPy .npy file"),
    ("zeros.stl", b"\x00" * 30, "no vertices found"),
    ("lonely.off", "OFF\n2 0 0\n0 0 0\n1 1 1\n", "mesh without faces and has only 2 vertices"),
    ("nan.npy", np.array([[0, 0, 0], [1, np.nan, 0], [0, 1, 1]] * 20, float), "NaN or infinite coordinates"),
    ("inf.xyz", "0 0 0\n1 inf 0\n" * 20, "NaN or infinite coordinates"),
    ("small.npy", np.random.default_rng(0).normal(size=(10, 3)), "has only 10 points; at least 32"),
    ("flat.npy", np.ones((50, 3)), "lie at one place"),
    ("empty.txt", "", "holds no points"),
    ("plane.npy", np.zeros((50, 2)), "expected (N, 3)"),
    ("cloud.las", "", "not a point-cloud file"),
])
def test_bad_files_are_one_line_errors(tmp_path, name, content, message):
    path = _write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        read_points(path, 64, min_points=32)
    text = str(caught.value)
    assert message in text and "\n" not in text and (name in text), text


# ---------------------------------------------------------------------------------------------------- folders


def _cloud_file(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.random.default_rng(seed).normal(size=(100, 3)))


def test_class_folders_split_per_class(tmp_path):
    for c, name in enumerate(["cone", "ball", "ring"]):
        for i in range(5):
            _cloud_file(tmp_path / name / f"{i}.npy", 10 * c + i)
    (tmp_path / "notes.txt").write_text("not a cloud")  # files straight under the root are ignored
    data = load_point_folder(tmp_path, points=64, test_fraction=0.4, workers=2)
    assert isinstance(data, PointData) and data.num_points == 64
    assert data.train.classes == ["ball", "cone", "ring"]
    assert data.train.points.shape == (9, 64, 3) and data.test.points.shape == (6, 64, 3)
    assert sorted(data.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    mean, std = data.channel_stats()
    assert len(mean) == 3 and std[0] == std[1] == std[2] > 0


def test_modelnet_and_train_test_layouts(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        for c, name in enumerate(["box", "tall_box"]):
            for i in range(count):
                mesh = trimesh.creation.box(extents=(1, 1, 1 + 2 * c))
                (tmp_path / "mn" / name / split).mkdir(parents=True, exist_ok=True)
                mesh.export(tmp_path / "mn" / name / split / f"{name}_{i:04d}.off")
                _cloud_file(tmp_path / "tt" / split / name / f"{i}.npy", i)
    modelnet = load_point_folder(tmp_path / "mn", points=128)
    assert modelnet.train.classes == ["box", "tall_box"]
    assert len(modelnet.train) == 6 and len(modelnet.test) == 4
    assert modelnet.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    tall = modelnet.test.points[modelnet.test.labels == 1]
    assert (tall[..., 2].amax(1) - tall[..., 2].amin(1) > 1.5 * (tall[..., 0].amax(1) - tall[..., 0].amin(1))).all()
    split = load_point_folder(tmp_path / "tt", points=32)
    assert (len(split.train), len(split.test)) == (6, 4) and split.test.classes == ["box", "tall_box"]


def test_bad_file_in_a_folder_and_skip_corrupt_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENJEPA_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    for i in range(4):
        _cloud_file(root / "a" / f"{i}.npy", i)
        _cloud_file(root / "b" / f"{i}.npy", 10 + i)
    np.save(root / "b" / "nan.npy", np.full((100, 3), np.nan))
    with pytest.raises(DataError, match=r"nan\.npy has NaN.*skip_corrupt=true"):
        load_point_folder(root, points=32)
    data = load_point_folder(root, points=32, skip_corrupt=True, test_fraction=0.25)
    assert len(data.train) + len(data.test) == 8
    cached = load_point_folder(root, points=32, skip_corrupt=True, test_fraction=0.25, cache=True)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    again = load_point_folder(root, points=32, skip_corrupt=True, test_fraction=0.25, cache=True)
    for a, b in [(data.train, cached.train), (cached.train, again.train), (cached.test, again.test)]:
        assert torch.equal(a.points, b.points) and torch.equal(a.labels, b.labels)
    with pytest.raises(DataError, match="no point files found"):
        load_point_folder(tmp_path / "cache" / "point-folders")


# ---------------------------------------------------------------------------------------------------- groups


def _grid_cloud(side=10):
    axis = torch.linspace(-1, 1, side)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)


def _min_gap(points):
    d = torch.cdist(points, points) + torch.eye(len(points)) * 1e9
    return float(d.min())


def test_fps_picks_spread_points():
    grid = _grid_cloud()
    index = farthest_point_sample(grid, 32)
    assert index.shape == (1, 32) and index[0, 0] == 0 and len(index.unique()) == 32
    gap = _min_gap(grid[0, index[0]])
    g = torch.Generator().manual_seed(0)
    random_gaps = [_min_gap(grid[0, torch.randperm(1000, generator=g)[:32]]) for _ in range(50)]
    assert gap >= max(random_gaps), (gap, max(random_gaps))
    cloud = torch.randn(3, 200, 3, generator=g)  # each pick is the point farthest from those before it
    index = farthest_point_sample(cloud, 10, generator=torch.Generator().manual_seed(1))
    for b in range(3):
        for i in range(1, 10):
            nearest = torch.cdist(cloud[b], cloud[b, index[b, :i]]).amin(1)
            assert nearest[index[b, i]] == nearest.max()
    again = farthest_point_sample(cloud, 10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(index, again) and not torch.equal(index, farthest_point_sample(cloud, 10))


def test_knn_groups_are_the_nearest_points():
    g = torch.Generator().manual_seed(0)
    cloud = torch.randn(2, 300, 3, generator=g)
    groups = group_points(cloud, 16, 8)
    assert groups.centres.shape == (2, 16, 3) and groups.neighbours.shape == (2, 16, 8, 3)
    distances = torch.cdist(groups.centres, cloud)  # (2, 16, 300)
    picked = torch.gather(distances, 2, groups.index)
    torch.testing.assert_close(picked, distances.sort(-1).values[..., :8])
    torch.testing.assert_close(groups.neighbours, take(cloud, groups.index) - groups.centres[:, :, None])
    assert (groups.neighbours[:, :, 0] == 0).all()  # the centre itself comes first
    assert torch.equal(knn_indices(groups.centres, cloud, 8), groups.index)


def test_tokenizer_shapes_and_order_invariance():
    torch.manual_seed(0)
    tokenizer = PointTokenizer(24, groups=16, group_size=8, hidden=(16, 32, 48)).eval()
    cloud = torch.randn(2, 128, 3)
    tokens, centres = tokenizer(cloud)
    assert tokens.shape == (2, 16, 24) and centres.shape == (2, 16, 3)
    assert tokenizer.grid(128) == (16,) and tokenizer.proj.weight.shape == (24, 48)
    pointnet = tokenizer.embed  # a group's feature ignores the order of its points
    group = torch.randn(5, 8, 3)
    torch.testing.assert_close(pointnet(group[:, torch.randperm(8)]), pointnet(group))
    perm = torch.randperm(128)  # the same cloud in another order, the same first centre: the same tokens
    start = torch.argsort(perm)[0].repeat(2)
    tokens2, centres2 = tokenizer(cloud[:, perm], start=start)
    torch.testing.assert_close(tokens2, tokens)
    torch.testing.assert_close(centres2, centres)
    assert CentreEmbed(24)(centres).shape == (2, 16, 24)
    with pytest.raises(ValueError, match="too small"):
        tokenizer(cloud[:, :12])
    assert isinstance(MiniPointNet(8), torch.nn.Module)


def test_sequencer_walks_to_the_nearest_unvisited_centre():
    g = torch.Generator().manual_seed(0)
    cloud = torch.rand(4, 1024, 3, generator=g) * 2 - 1
    centres = take(cloud, farthest_point_sample(cloud, 64))
    order = sequence_order(centres)
    assert torch.equal(order.sort(1).values, torch.arange(64).expand(4, -1))
    assert torch.equal(order[:, 0], centres.sum(-1).argmin(1))  # the reference's start: the smallest x + y + z
    for b in range(4):
        for i in range(1, 64):
            rest = order[b, i:]
            d = (centres[b, rest] - centres[b, order[b, i - 1]]).norm(dim=-1)
            assert d[0] == d.min()
    ordered = take(centres, order)
    step = (ordered[:, 1:] - ordered[:, :-1]).norm(dim=-1).mean()
    pairs = torch.cdist(centres, centres).mean()
    assert step < 0.5 * pairs, (step, pairs)
    def spread(seq):  # mean distance of a window's centres to the window's mean, over all windows of 8
        window = seq.unfold(1, 8, 1)
        return (window - window.mean(-1, keepdim=True)).norm(dim=2).mean()

    shuffled = take(centres, torch.stack([torch.randperm(64, generator=g) for _ in range(4)]))
    assert spread(ordered) < 0.8 * spread(shuffled), (spread(ordered), spread(shuffled))
    drawn = sequence_order(centres, generator=torch.Generator().manual_seed(5))
    assert torch.equal(drawn, sequence_order(centres, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(drawn[:, 0], order[:, 0])


def test_ball_and_nearest_neighbourhoods_of_centres():
    g = torch.Generator().manual_seed(0)
    centres = torch.rand(2, 32, 3, generator=g)
    chosen = torch.tensor([[0, 5], [7, 31]])
    balls = ball_groups(centres, chosen, 0.4)
    assert balls.shape == (2, 2, 32) and balls[torch.arange(2)[:, None], torch.arange(2), chosen].all()
    for b in range(2):
        for k in range(2):
            d = (centres[b] - centres[b, chosen[b, k]]).norm(dim=-1)
            assert torch.equal(balls[b, k], d <= 0.4)
    radii = ball_groups(centres, chosen, torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    assert (radii.sum(-1) <= ball_groups(centres, chosen, 0.4).sum(-1)).all()
    near = nearest_groups(centres, chosen, 6)
    assert near.shape == (2, 2, 6) and torch.equal(near[..., 0], chosen)
    d = torch.cdist(take(centres, chosen), centres)
    torch.testing.assert_close(torch.gather(d, 2, near), d.sort(-1).values[..., :6])


# ---------------------------------------------------------------------------------------------------- shapes3d


def test_shapes3d_is_deterministic_and_registered():
    a, b = make_shapes3d(40, seed=3, points=256), make_shapes3d(40, seed=3, points=256)
    assert torch.equal(a.points, b.points) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.points, make_shapes3d(40, seed=4, points=256).points)
    assert a.points.shape == (40, 256, 3) and a.points.dtype == torch.float32
    assert torch.bincount(a.labels).tolist() == [4] * 10 and a.classes == CLASSES
    assert a.points.norm(dim=-1).amax() < 1.15 and a.points.mean(1).abs().amax() < 0.1
    assert DATASETS.info("shapes3d")["modality"] == "points"


def test_occupancy_baseline_is_weak():
    from sklearn.linear_model import LogisticRegression

    feats = occupancy_features(torch.tensor([[[-1.0, -1.0, -1.0], [0.99, 0.99, 0.99], [0.1, -0.1, 0.6]]]), grid=2)
    torch.testing.assert_close(feats, torch.tensor([[1 / 3, 0, 0, 0, 0, 1 / 3, 0, 1 / 3]]))
    train, test = make_shapes3d(800, seed=11, points=256), make_shapes3d(400, seed=12, points=256)
    probe = LogisticRegression(C=1.0, max_iter=300)
    probe.fit(occupancy_features(train.points, 8).numpy(), train.labels.numpy())
    accuracy = probe.score(occupancy_features(test.points, 8).numpy(), test.labels.numpy())
    print(f"occupancy 8^3 logistic probe on shapes3d (800 train / 400 test, 256 points): {accuracy:.3f} "
          f"(chance {1 / len(CLASSES):.2f})")
    assert 1 / len(CLASSES) < accuracy < 0.75
