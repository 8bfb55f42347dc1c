"""Record the per-step losses of the first 20 steps of every shipped tiny recipe (fp32, seed 0, default data, CPU).

    python benchmarks/record_first_losses.py --out tests/fixtures/first_losses.json     # record
    python benchmarks/record_first_losses.py --check tests/fixtures/first_losses.json   # compare all 20 steps

The world-model recipes train on small trajectory stores collected here with fixed seeds (the commands are in
``WORLD_DATA``); ``vjepa2ac_tworoom_tiny`` takes the ``lewm_tworoom_tiny`` run as its frozen encoder.
``--check`` runs them again and prints the largest difference per recipe (``tests/test_same_numbers.py`` checks the
first steps in the suite). The file records the machine it was measured on: fp32 kernels differ between CPUs (AVX2
against AVX-512), so agreement to 1e-6 is only expected on the same kind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = 20
# recipe -> (collect arguments of its trajectory store, or None for built-in data; name of the run whose encoder it
# freezes, or None)
RECIPES = {
    "ijepa_tiny": (None, None),
    "ijepa_sigreg_tiny": (None, None),
    "lejepa_tiny": (None, None),
    "vjepa_tiny": (None, None),
    "vjepa2_tiny": (None, None),
    "vjepa21_tiny": (None, None),
    "lewm_tworoom_tiny": ("tworoom", None),
    "lewm_reacher_tiny": ("reacher", None),
    "lewm_pusht_tiny": ("pusht", None),
    "vjepa2ac_tworoom_tiny": ("tworoom", "lewm_tworoom_tiny"),
}
WORLD_DATA = {
    "tworoom": ["tworoom", "--episodes", "24", "--max-steps", "60", "--policy", "noisy_expert,random"],
    "reacher": ["reacher", "--episodes", "6", "--max-steps", "60", "--policy", "noisy_expert,random",
                "--image-size", "64"],
    "pusht": ["pusht", "--episodes", "6", "--max-steps", "60", "--policy", "random", "--image-size", "64"],
}


def openjepa(*args: str, cwd: Path) -> None:
    """Run the CLI in a fresh interpreter, as a user would."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "openjepa", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def collect_store(name: str, root: Path) -> Path:
    out = root / f"store-{name}"
    if not out.exists():
        openjepa("collect", *WORLD_DATA[name], "--seed", "0", "--quiet", "--out", str(out), cwd=root)
    return out


def encoder_run(recipe: str, root: Path) -> Path | None:
    """The full 20-step run whose encoder ``recipe`` freezes, trained on first use; None if it freezes none."""
    encoder = RECIPES[recipe][1]
    if encoder is None:
        return None
    out = root / f"{encoder}-encoder"
    if not out.exists():
        openjepa(*train_command(encoder, root, out=out), cwd=root)
    return out


def train_command(recipe: str, root: Path, stop_at: int | None = None, out: Path | None = None) -> list[str]:
    """The contract's command for ``recipe`` into ``out`` (default ``root/recipe``), with the data and frozen
    encoder it needs."""
    store = RECIPES[recipe][0]
    args = ["train", recipe, "--out", str(out or root / recipe), "--steps", str(STEPS), "--seed", "0", "--quiet",
            "train.precision=fp32", "train.log_every=1"]
    if store is not None:
        args += ["--data", str(collect_store(store, root))]
    encoder = encoder_run(recipe, root)
    if encoder is not None:
        args += ["--encoder", str(encoder)]
    if stop_at is not None:
        args += ["--stop-at", str(stop_at)]
    return args


def first_losses(run: Path) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records]


def machine() -> dict:
    import torch

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return {"torch": torch.__version__, "isa": isa, "threads": torch.get_num_threads(), "cpu": platform.processor()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help="record the losses into this file")
    mode.add_argument("--check", type=Path, help="compare with the losses recorded in this file")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    args = parser.parse_args()
    want = json.loads(args.check.read_text())["losses"] if args.check else None
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    losses = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for recipe in args.recipes:
            openjepa(*train_command(recipe, root), cwd=root)
            losses[recipe] = first_losses(root / recipe)
            if want is None:
                print(recipe, " ".join(f"{v:.6f}" for v in losses[recipe][:5]), "...")
            else:
                worst = max(abs(a - b) for a, b in zip(losses[recipe], want[recipe], strict=True))
                print(f"{recipe:24} {len(losses[recipe])} steps, largest difference {worst:.2e}")
    if want is None:
        record = {"commit": commit, "steps": STEPS, "machine": machine(), "collect": WORLD_DATA, "losses": losses}
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
