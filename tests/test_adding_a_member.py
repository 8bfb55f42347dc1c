"""docs/adding-a-member.md as written: a method, a dataset and an evaluation task registered from outside the package
train through the CLI, evaluate, resume and reload with ``openjepa.load``."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

import openjepa

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-member.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def _openjepa(folder: Path, *args) -> subprocess.CompletedProcess:
    """The installed ``openjepa`` command, run in ``folder``: the plugin is found in the current directory."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(Path(sys.executable).with_name("openjepa")), *map(str, args)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_guides_member_trains_evaluates_resumes_and_loads(tmp_path, monkeypatch):
    (module,), (recipe,) = _blocks("python"), _blocks("yaml")
    (tmp_path / "my_member.py").write_text(module)
    (tmp_path / "my_member.yaml").write_text(recipe)
    run = tmp_path / "runs" / "global"
    _openjepa(tmp_path, "train", "my_member.yaml", "--out", run, "--quiet", "--stop-at", "20")
    _openjepa(tmp_path, "train", "--resume", run, "--quiet")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 41)) and all("momentum" in r for r in records)
    out = _openjepa(tmp_path, "eval", run).stdout
    assert "prediction agreement (cosine)" in out and "linear probe" in out
    results = json.loads((run / "eval.json").read_text())
    assert set(results["prediction_agreement"]) == {"trained", "random_init"}
    assert results["linear"]["trained"] > 0.25 and results["meta"]["dataset"] == "striped_squares"
    # in this process: the run names its plugin, which load imports from the path
    monkeypatch.syspath_prepend(str(tmp_path))
    encoder = openjepa.load(run)
    images = torch.rand(2, 1, 16, 16)
    assert encoder(images).shape == (2, 16, 48) and encoder.input_spec.modality == "image"
    assert openjepa.embed(run, (images * 255).to(torch.uint8)).shape == (2, 48)
