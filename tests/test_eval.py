import copy
import json
import logging
import re

import pytest
import torch

from openjepa.core.errors import ConfigError
from openjepa.data.digits import load_digits
from openjepa.eval.evaluate import evaluate_run, target_lag
from openjepa.eval.probes import knn_probe, linear_probe, lowshot_probe
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.prepare import fill_spec
from openjepa.train.loop import fit


def _blobs(n, d=8, classes=4, spread=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=gen) * 3
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, d, generator=gen), y


def test_probes_read_separable_features_and_not_noise():
    x, y = _blobs(600)
    x, y, xt, yt = x[:400], y[:400], x[400:], y[400:]
    assert linear_probe(x, y, xt, yt)["accuracy"] > 0.97
    assert knn_probe(x, y, xt, yt) > 0.97
    assert lowshot_probe(x, y, xt, yt, per_class=5, repeats=2) > 0.9
    noise = torch.randn(400, 8)
    chance = linear_probe(noise, y, torch.randn(200, 8), yt)["accuracy"]
    assert chance < 0.4


def test_eval_json_contract(tmp_path, tiny_overrides, caplog):
    run = fit(build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["train.steps=3"]), tmp_path / "run",
              progress=False, data=load_digits(size=16))
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        results = evaluate_run(run).results  # the recipe's eval.encoder: context
    assert "target encoder is still" not in caplog.text
    saved = json.loads((run / "eval.json").read_text())
    assert set(saved) >= {"linear", "knn", "lowshot"}
    for probe in ("linear", "knn", "lowshot"):
        assert set(saved[probe]) >= {"trained", "random_init", "raw_input"}
        assert all(0.0 <= v <= 1.0 for v in saved[probe].values())
    # digits are easy: every feature set is far above chance (0.1)
    assert results["linear"]["raw_input"] > 0.8 and results["knn"]["random_init"] > 0.3
    assert (run / "plots" / "pca.png").is_file() and "trained context encoder" in (run / "report.md").read_text()
    assert saved["meta"]["target_lag"] > 0.9  # 3 steps of a slow EMA: the target is still nearly its random init
    # probing the target encoder into another file leaves the run's eval.json and report untouched
    before = {name: (run / name).read_bytes() for name in ("eval.json", "report.md")}
    with caplog.at_level(logging.WARNING, logger="openjepa"):
        target = evaluate_run(run, encoder="target", out=tmp_path / "target.json").results
    assert "target encoder is still" in caplog.text  # 3 steps: the EMA target has barely moved
    # after 3 steps the two encoders are so close that their probe accuracies can tie: check what each recorded
    assert results["meta"]["encoder"] == "context"
    assert target == json.loads((tmp_path / "target.json").read_text()) and target["meta"]["encoder"] == "target"
    assert {name: (run / name).read_bytes() for name in before} == before
    for setting in ("eval.tokens=step", "eval.probe_flips=horizontal", "eval.probe_seeds=3",
                    "eval.attentive_warmups=[0.0, 0.1]"):  # settings of video evaluation: an image run has none
        key = setting.split("=")[0]
        with pytest.raises(ConfigError, match=f"unknown config key '{re.escape(key)}'"):
            evaluate_run(run, settings=[setting], out=tmp_path / "video_only.json")
    assert not (tmp_path / "video_only.json").exists()


def test_video_evaluation_settings_are_checked_when_the_config_is_built():
    with pytest.raises(ConfigError, match="eval.probe_seeds: expected at least 1 seed, got 0"):
        build_config(recipe_dict("vjepa_tiny"), ["eval.probe_seeds=0"])
    with pytest.raises(ConfigError, match=r"eval.attentive_warmups: expected fractions .* in \[0, 1\), got \[1.5\]"):
        build_config(recipe_dict("vjepa_tiny"), ["eval.attentive_warmups=[1.5]"])


def test_target_lag_is_the_share_of_the_context_encoders_move_the_target_has_not_followed(tiny_overrides):
    digits = load_digits(size=16)
    method = build_method(fill_spec(build_config(recipe_dict("ijepa_tiny"), tiny_overrides), digits))
    initial = copy.deepcopy(method)
    assert target_lag(method, initial) is None  # nothing has moved
    with torch.no_grad():
        for p in method.eval_encoder("context").parameters():
            p.add_(torch.randn_like(p))
    assert target_lag(method, initial) == pytest.approx(1.0)  # the target has not moved
    with torch.no_grad():
        for t, c in zip(method.eval_encoder("target").parameters(), method.eval_encoder("context").parameters()):
            t.lerp_(c, 0.75)
    assert target_lag(method, initial) == pytest.approx(0.25, rel=1e-4)
    shared_cfg = build_config(recipe_dict("ijepa_tiny"), tiny_overrides + ["method.target.mode=shared"])
    shared = build_method(fill_spec(shared_cfg, digits))
    assert target_lag(shared, initial) is None
