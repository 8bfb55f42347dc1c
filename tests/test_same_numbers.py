"""Every shipped tiny recipe gives the per-step losses recorded in ``fixtures/first_losses.json`` by
``benchmarks/record_first_losses.py`` (the first 20 steps, fp32, seed 0, default data, CPU, through the CLI).

To stay within the suite's time, this test trains in process, builds each built-in dataset once, and checks the
first ``CHECKED`` steps (``train.stop_at`` keeps the 20-step schedule, so they are the recorded run's);
``python benchmarks/record_first_losses.py --check tests/fixtures/first_losses.json`` checks all 20 through the CLI.
Agreement to 1e-6 is expected on the kind of CPU the file was recorded on; fp32 kernels of another instruction set
sum in another order, and there the test allows 1e-4.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from openjepa.control.collect import collect
from openjepa.modalities.registry import MODALITIES
from openjepa.runs.config import build_config, recipe_dict
from openjepa.runs.metrics import read_metrics
from openjepa.train.loop import fit

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "first_losses.json").read_text())
spec = importlib.util.spec_from_file_location("record_first_losses", ROOT / "benchmarks" / "record_first_losses.py")
record = importlib.util.module_from_spec(spec)
sys.modules["record_first_losses"] = record
spec.loader.exec_module(record)

CHECKED = 3
EXTRAS = {"reacher": "dm_control", "pusht": "gym_pusht"}


class Runs:
    """Trajectory stores, built-in datasets and frozen-encoder runs, each made once for the whole module."""

    def __init__(self, root: Path):
        self.root, self.data, self.stores = root, {}, {}

    def store(self, env: str) -> Path:
        if env not in self.stores:
            args = record.WORLD_DATA[env]
            options = dict(zip(args[1::2], args[2::2]))
            out = self.root / f"store-{env}"
            collect(env, int(options["--episodes"]), options["--policy"], out, seed=0,
                    image_size=int(options.get("--image-size", 32)), max_steps=int(options["--max-steps"]),
                    progress=False)
            self.stores[env] = out
        return self.stores[env]

    def train(self, recipe: str, out: Path, stop_at: int | None = None) -> Path:
        store, encoder = record.RECIPES[recipe]
        overrides = [f"train.steps={record.STEPS}", "train.minutes=null", "train.seed=0", "train.precision=fp32",
                     "train.log_every=1", f"train.stop_at={stop_at or 'null'}"]
        if store is not None:
            overrides.append(f"data.dataset={self.store(store)}")
        if encoder is not None:
            run = self.root / f"{encoder}-encoder"
            if not run.exists():
                self.train(encoder, run)
            overrides.append(f"init.run={run}")
        cfg = build_config(recipe_dict(recipe), overrides)
        key = (cfg.data.dataset, getattr(cfg.data, "train_size", None))
        if store is None and key not in self.data:
            self.data[key] = MODALITIES.get(cfg.data.modality)().load(cfg.data)
        fit(cfg, out, progress=False, data=self.data.get(key))
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("same-numbers"))


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(FIXTURE["losses"]))
def test_first_losses_unchanged(recipe: str, runs: Runs) -> None:
    store = record.RECIPES[recipe][0]
    if store in EXTRAS:
        pytest.importorskip(EXTRAS[store])
    run = runs.train(recipe, runs.root / recipe, stop_at=CHECKED)
    got = [r["loss"] for r in read_metrics(run / "metrics.jsonl")]
    want = FIXTURE["losses"][recipe][:CHECKED]
    same_kind = record.machine()["isa"] == FIXTURE["machine"]["isa"]
    assert got == pytest.approx(want, abs=1e-6 if same_kind else 1e-4, rel=0), (recipe, got, want)
