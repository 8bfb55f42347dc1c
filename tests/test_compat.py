"""Run folders written before layout version 2 (``compat/config_v1.py``) still load: their configs build the same
method, weight for weight (``fixtures/v1_runs``: config.yaml and weight shapes of one-step runs written by
4a4ffcb)."""

import json
from pathlib import Path

import pytest
import yaml

from openjepa.compat.config_v1 import migrate
from openjepa.runs.build import build_method
from openjepa.runs.config import build_config

V1 = Path(__file__).parent / "fixtures" / "v1_runs"


@pytest.mark.parametrize("run", sorted(p.name for p in V1.iterdir()))
def test_a_layout_1_run_builds_the_method_it_trained(run):
    raw = yaml.safe_load((V1 / run / "config.yaml").read_text())
    cfg = build_config(migrate(raw))
    assert cfg.version == 2 and cfg.spec.modality == {"ijepa_tiny": "image", "vjepa2_tiny": "video"}.get(
        run, "trajectory")
    shapes = {k: list(v.shape) for k, v in build_method(cfg).state_dict().items()}
    assert shapes == json.loads((V1 / run / "weights.json").read_text())
    if "action_dim" in raw["method"]:
        assert (cfg.spec.action_dim, cfg.spec.state_dim) == (raw["method"]["action_dim"], raw["method"].get("state_dim"))
        assert cfg.method.plan.horizon == raw["plan"]["horizon"]
    if raw["method"].get("encoder_run"):
        assert cfg.init.run == raw["method"]["encoder_run"] and cfg.encoder_spec is not None


def test_a_layout_2_config_passes_through():
    raw = {"version": 2, "method": {"name": "ijepa"}}
    assert migrate(raw) is raw
