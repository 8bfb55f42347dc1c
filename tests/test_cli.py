import json
from types import SimpleNamespace

import numpy as np
import pytest
from cli_process import run_cli
from PIL import Image

from openjepa.cli import main


def _run(*args, check=True):
    """The command in a child process, as a user runs it (forked: the imports are paid once)."""
    done = run_cli([str(a) for a in args], timeout=600)
    if check and done.code != 0:
        raise AssertionError(f"openjepa {' '.join(map(str, args))} failed:\n{done.err}")
    return SimpleNamespace(returncode=done.code, stdout=done.out, stderr=done.err)


def _main(capsys, *args) -> tuple[int, str, str]:
    """The command in this process (argument parsing and error reporting are the same): exit code, stdout, stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_recipes_are_grouped_by_modality_and_member_and_print_their_yaml(capsys):
    lines = _main(capsys, "recipes")[1].splitlines()
    groups = [line for line in lines if line and not line.startswith(" ")]
    assert groups == ["audio", "image", "image_text", "objects", "points", "text", "text_pairs", "tracks", "trajectory",
                      "video"]
    for name, member in (("ijepa_tiny", "I-JEPA"), ("lejepa_tiny", "LeJEPA"), ("vjepa2ac_tworoom_tiny", "V-JEPA 2-AC")):
        line = next(line for line in lines if f" {name} " in line)
        assert len(line) > len(name) + 30
    member_lines = [line for line in lines if line.strip().startswith("V-JEPA 2-AC ")]
    assert len(member_lines) == 1  # the member is named once, on its first recipe
    printed = _main(capsys, "recipes", "vjepa_tiny")[1]
    assert printed.startswith("description: V-JEPA") and "modality: video" in printed
    code, _, err = _main(capsys, "recipes", "vjepa_tinyy")
    assert code == 2 and "did you mean 'vjepa_tiny'" in err


@pytest.mark.parametrize("command", ["train", "eval", "embed", "demo", "bench", "export-hf", "recipes",
                                     "surprise", "flow", "fit-predictor", "collect", "plan", "classify", "similarity",
                                     "search"])
def test_every_command_explains_its_options(command, capsys):
    code, out, _ = _main(capsys, command, "--help")
    assert code == 0
    assert "usage: openjepa" in out
    text = " ".join(out.split())  # argparse wraps lines
    if command == "train":
        for option in ("--out", "--data", "--minutes", "--steps", "--resume", "--seed", "key.sub=value",
                       "--allow-data-change", "videos", "trajectory store"):
            assert option in text
    if command == "collect":
        assert all(env in text for env in ("tworoom", "reach", "pusht", "reacher"))
    if command == "eval":
        assert "I-JEPA and V-JEPA recipes probe 'context'" in text


def test_a_count_below_one_is_refused_before_any_work(tmp_path):
    proc = _run("surprise", tmp_path, "--out", tmp_path / "s.json", "--quadruplets", 0, check=False)
    assert proc.returncode == 2 and "--quadruplets: expected a positive integer, got '0'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s.json").exists()


def _image_folder(root, n=12, size=16):
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("test", n // 2)):
        for c in range(3):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                img = np.zeros((size, size), np.uint8)
                img[:, c * 5 : c * 5 + 5] = 200 + rng.integers(0, 50)
                Image.fromarray(img).save(folder / f"{i}.png")


def test_train_eval_embed_export_on_a_users_folder(tmp_path, tiny_overrides):
    data = tmp_path / "data"
    _image_folder(data)
    run = tmp_path / "run"
    overrides = [o for o in tiny_overrides if not o.startswith("data.")] + ["train.batch_size=12"]
    out = _run("train", "ijepa_tiny", "--out", run, "--data", data, "--steps", 4, "--quiet", *overrides)
    assert "openjepa eval" in out.stdout
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4
    out = _run("eval", run).stdout
    assert "raw pixels" in out and "linear probe" in out
    results = json.loads((run / "eval.json").read_text())
    assert results["meta"]["classes"] == 3 and results["meta"]["test_images"] == 18
    images = sorted((data / "test" / "class1").glob("*.png"))[:5]
    _run("embed", run, *images, "--out", tmp_path / "f.npy")
    assert np.load(tmp_path / "f.npy").shape == (5, 32)
    _run("embed", run, *images[:2], "--out", tmp_path / "t.npy", "--tokens")
    assert np.load(tmp_path / "t.npy").shape == (2, 16, 32)
    _run("export-hf", run, "--out", tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()


@pytest.mark.parametrize("args,message", [
    (["train", "ijepa_tiny", "--out", "{tmp}/r", "optim.lrr=1"], "unknown config key 'optim.lrr'; did you mean 'optim.lr'"),
    (["train", "ijepa_tinyy", "--out", "{tmp}/r"], "did you mean 'ijepa_tiny'"),
    (["train", "ijepa_tiny", "--out", "{tmp}/r", "--data", "{tmp}/nothing"], "data not found"),
    (["train", "ijepa_tiny", "--out", "{tmp}/r", "--data", "{tmp}/empty"], "no images found"),
    (["train", "--resume", "{tmp}/nothing"], "is not an openjepa run"),
    (["eval", "{tmp}/nothing"], "is not an openjepa run"),
    (["embed", "{tmp}/nothing", "x.png", "--out", "{tmp}/x.npy"], "neither an openjepa run"),
])
def test_bad_input_is_a_one_line_error(tmp_path, args, message, capsys):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    code, _, err = _main(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert message in err and "Traceback" not in err
