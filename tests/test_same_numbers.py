"""Every shipped tiny recipe gives the per-step losses recorded in ``fixtures/first_losses.json`` by
``benchmarks/record_first_losses.py`` (the first 20 steps, fp32, seed 0, default data, CPU, through the CLI), and
``openjepa eval`` works on each of these few-step runs.

To stay within the suite's time, this test trains in process, builds each built-in dataset once, and checks the
first ``CHECKED`` steps (``train.stop_at`` keeps the 20-step schedule, so they are the recorded run's);
``python benchmarks/record_first_losses.py --check tests/fixtures/first_losses.json`` checks all 20 through the CLI.
Agreement to 1e-6 is expected on the kind of CPU the file was recorded on; fp32 kernels of another instruction set
sum in another order, and there the test allows 1e-4. A recipe whose data changed on purpose is re-recorded alone
(``--recipes NAME``) and listed in the file's ``recorded_elsewhere`` with the machine it was recorded on.
"""

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from openjepa.control.collect import collect
from openjepa.eval.evaluate import evaluate_run
from openjepa.modalities.registry import load_data
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
# evaluation settings that keep each run's evaluation to seconds (the tasks and their outputs stay the same)
QUICK_EVAL = {"image": ["eval.max_train=200", "eval.lowshot_repeats=1"],
              "video": ["eval.max_train=64", "eval.attentive_epochs=1", "eval.attentive_warmups=[]"],
              "trajectory": ["eval.readout_frames=400"]}
RESULT_KEYS = {"image": {"linear", "knn", "lowshot", "rankme"}, "video": {"attentive", "dense", "dense_motion"},
               "trajectory": {"position_r2", "position_r2_encoder"}}
EXTRAS = {"reacher": "dm_control", "pusht": "gym_pusht"}


class Runs:
    """Trajectory stores, built-in datasets and frozen-encoder runs, each made once for the whole module."""

    def __init__(self, root: Path):
        self.root, self.data, self.stores, self.trained, self.trained_on = root, {}, {}, {}, {}

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
            self.data[key] = load_data(cfg.data)
        fit(cfg, out, progress=False, data=self.data.get(key))
        self.trained_on[out] = self.data.get(key)
        return out

    def checked_run(self, recipe: str) -> Path:
        """The run of ``recipe`` stopped after ``CHECKED`` steps (trained on first use)."""
        store = record.RECIPES[recipe][0]
        if store in EXTRAS:
            pytest.importorskip(EXTRAS[store])
        if recipe not in self.trained:
            self.trained[recipe] = self.train(recipe, self.root / recipe, stop_at=CHECKED)
        return self.trained[recipe]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("same-numbers"))


@pytest.fixture(autouse=True)
def recorded_threads():
    """The recording's thread count: a matmul split over another number of threads sums in another order."""
    before = torch.get_num_threads()
    torch.set_num_threads(FIXTURE["machine"]["threads"])
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(FIXTURE["losses"]))
def test_first_losses_unchanged(recipe: str, runs: Runs) -> None:
    run = runs.checked_run(recipe)
    got = [r["loss"] for r in read_metrics(run / "metrics.jsonl")]
    want = FIXTURE["losses"][recipe][:CHECKED]
    recorded_on = FIXTURE.get("recorded_elsewhere", {}).get(recipe, FIXTURE)["machine"]  # re-recorded recipes
    same_kind = record.machine()["isa"] == recorded_on["isa"]
    assert got == pytest.approx(want, abs=1e-6 if same_kind else 1e-4, rel=0), (recipe, got, want)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(FIXTURE["losses"]))
def test_every_tiny_recipe_evaluates(recipe: str, runs: Runs) -> None:
    run = runs.checked_run(recipe)
    modality = build_config(recipe_dict(recipe)).data.modality
    data = runs.trained_on[run]
    if data is not None:  # the first 100 test items of a built-in set (a store is small already)
        data = replace(data, test=data.test.subset(torch.arange(100)))
    evaluation = evaluate_run(run, settings=QUICK_EVAL[modality], dataset=data)
    assert RESULT_KEYS[modality] <= set(evaluation.results) and evaluation.table
    assert json.loads((run / "eval.json").read_text()) == evaluation.results
    assert (run / "report.md").is_file()
