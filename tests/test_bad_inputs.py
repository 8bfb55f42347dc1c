"""The catalogue of bad inputs: every command and public function answers each with one line naming what was
wrong and what was expected (exit 2 for input, 1 for a failure during the work), no traceback, and no file
that existed before is changed. CLI cases run the real entry point in a child process (tests/cli_process.py)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_process import changed, hashes, run_cli
from PIL import Image

import openjepa
from openjepa import errors
from openjepa.api import fit_predictor, predict
from openjepa.cli import main

TINY = ["data.image_size=16", "encoder.patch_size=4", "encoder.width=32", "encoder.depth=2", "encoder.heads=2",
        "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
        "method.projector.hidden=32", "method.projector.out=16", "train.batch_size=16", "train.precision=fp32",
        "optim.warmup_steps=1", "eval.lowshot_repeats=1"]
VIDEO = ["data.frames=4", "data.image_size=16", "encoder.patch_size=4", "encoder.width=32", "encoder.depth=1",
         "encoder.heads=2", "method.predictor.width=16", "method.predictor.depth=1", "method.predictor.heads=2",
         "train.batch_size=8", "train.precision=fp32", "optim.warmup_steps=1"]
AUDIO = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=16",
         "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=4", "train.precision=fp32",
         "data.seconds=0.5", "data.n_mels=32", "data.frames=32", "method.projector.hidden=16", "method.projector.out=8"]
POINTS = ["encoder.width=32", "encoder.depth=1", "encoder.heads=2", "method.predictor.width=16",
          "method.predictor.depth=1", "method.predictor.heads=2", "train.batch_size=4", "train.precision=fp32",
          "data.points=64", "data.groups=8", "data.group_size=8", "data.point_net=[8,16,32]", "data.cache=false",
          "method.projector.hidden=16", "method.projector.out=8"]
WORLD = ["train.batch_size=8", "data.frames=3", "data.frame_step=2", "encoder.width=32", "encoder.depth=1",
         "encoder.heads=2", "method.predictor.width=32", "method.predictor.depth=1", "method.projector.hidden=64",
         "method.projector.out=16", "train.precision=fp32"]


def _cli(*args):
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == 0, args


def _wav(path: Path, seed: int, level: float = 0.3) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, level * np.random.default_rng(seed).uniform(-1, 1, 4000), 8000)


def _cloud(path: Path, seed: int, points: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.random.default_rng(seed).normal(size=(points, 3)).astype(np.float32))


def _png(path: Path, seed: int, size: int = 16, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """Runs, a store, HF folders, data folders and a user's own folder: what the bad inputs are aimed at."""
    ws = tmp_path_factory.mktemp("ws")
    _cli("train", "ijepa_tiny", "--out", ws / "img_run", "--data", "digits", "--steps", 2, "--quiet", *TINY)
    _cli("eval", ws / "img_run")
    _cli("train", "vjepa2_tiny", "--out", ws / "vid_run", "--steps", 1, "--quiet", *VIDEO)
    _cli("collect", "tworoom", "--episodes", 4, "--max-steps", 40, "--out", ws / "store", "--quiet")
    _cli("train", "lewm_tworoom_tiny", "--data", ws / "store", "--out", ws / "world_run", "--steps", 1, "--quiet",
         *WORLD)
    _cli("export-hf", ws / "img_run", "--out", ws / "hf")
    (ws / "hf_broken").mkdir()
    (ws / "hf_broken" / "config.json").write_text('{"model_type": "ijepa", "hidden_size": ')
    shutil.copytree(ws / "hf", ws / "hf_mismatch")
    config = json.loads((ws / "hf" / "config.json").read_text())
    (ws / "hf_mismatch" / "config.json").write_text(json.dumps({**config, "hidden_size": 48}))
    for i in range(12):
        _png(ws / "images" / ("a" if i % 2 else "b") / f"{i}.png", i)
        _png(ws / "one_class" / "only" / f"{i}.png", i)
        _png(ws / "train_only" / "train" / ("a" if i % 2 else "b") / f"{i}.png", i)
        _png(ws / "rgb" / ("a" if i % 2 else "b") / f"{i}.png", i, mode="RGB")
    for i in range(4):
        _png(ws / "few" / ("a" if i % 2 else "b") / f"{i}.png", i)
    (ws / "empty").mkdir()
    _png(ws / "img.png", 0)
    (ws / "broken.png").write_text("not an image")
    (ws / "notes.txt").write_text("a user's own notes\n")
    user = ws / "user"
    (user / "plots").mkdir(parents=True)
    (user / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    _png(user / "plots" / "loss.png", 1)
    (ws / "broken.yaml").write_text("method: {name: ijepa\n  mask: [1,\n")
    (ws / "list.yaml").write_text("- 1\n- 2\n")
    np.savez(ws / "bad_masks.npz", context=np.arange(3))
    for i in range(8):
        for folder in ("sounds", "sounds_empty", "sounds_broken", "sounds_silent"):
            _wav(ws / folder / ("a" if i % 2 else "b") / f"{i}.wav", i)
        for folder in ("points", "points_nan", "points_few", "points_no_faces"):
            _cloud(ws / folder / ("a" if i % 2 else "b") / f"{i}.npy", i)
    (ws / "sounds_empty" / "a" / "1.wav").write_bytes(b"")
    (ws / "sounds_broken" / "a" / "1.wav").write_text("RIFF but not really a sound")
    _wav(ws / "sounds_silent" / "a" / "1.wav", 1, level=0.0)
    nan = np.zeros((100, 3), np.float32)
    nan[7, 1] = np.nan
    np.save(ws / "points_nan" / "a" / "1.npy", nan)
    _cloud(ws / "points_few" / "a" / "1.npy", 1, points=5)
    (ws / "points_no_faces" / "a" / "1.off").write_text("OFF\n0 0 0\n")
    shutil.copy(ws / "sounds_broken" / "a" / "1.wav", ws / "broken.wav")
    shutil.copy(ws / "points_nan" / "a" / "1.npy", ws / "nan.npy")
    _cli("train", "audiojepa_tiny", "--out", ws / "audio_run", "--data", ws / "sounds", "--steps", 1, "--quiet",
         *AUDIO)
    _cli("train", "pointjepa_tiny", "--out", ws / "point_run", "--data", ws / "points", "--steps", 1, "--quiet",
         *POINTS)
    (ws / "new").mkdir()
    return ws


def case(id, *argv, code=2, words=(), marks=()):
    return pytest.param(list(argv), code, words, id=id, marks=marks)


CLI_CASES = [
    # the command line itself
    case("no-command", words=["command"]),
    case("unknown-command", "trian", words=["trian"]),
    case("unknown-option", "train", "ijepa_tiny", "--out", "{new}/r", "--fast", words=["--fast"]),
    # train: the recipe and its overrides
    case("image-size-0", "train", "ijepa_tiny", "--out", "{new}/r", "data.image_size=0", words=["image_size"]),
    case("image-size-negative", "train", "ijepa_tiny", "--out", "{new}/r", "data.image_size=-3", words=["image_size"]),
    case("broken-yaml-override", "train", "ijepa_tiny", "--out", "{new}/r", "method.mask.num_targets=[1,",
         words=["method.mask.num_targets", "YAML"]),
    case("unknown-key", "train", "ijepa_tiny", "--out", "{new}/r", "optim.lrr=1", words=["optim.lrr", "optim.lr"]),
    case("unknown-section", "train", "ijepa_tiny", "--out", "{new}/r", "optimm.lr=1", words=["optimm", "optim"]),
    case("empty-key", "train", "ijepa_tiny", "--out", "{new}/r", "=5", words=["key"]),
    case("wrong-type", "train", "ijepa_tiny", "--out", "{new}/r", "train.batch_size=abc", words=["train.batch_size"]),
    case("batch-size-1", "train", "ijepa_tiny", "--out", "{new}/r", "train.batch_size=1", words=["batch_size"]),
    case("lr-negative", "train", "ijepa_tiny", "--out", "{new}/r", "optim.lr=-1", words=["optim.lr"]),
    case("precision", "train", "ijepa_tiny", "--out", "{new}/r", "train.precision=fp16", words=["precision", "bf16"]),
    case("device", "train", "ijepa_tiny", "--out", "{new}/r", "train.device=tpu", words=["tpu"]),
    case("threads-0", "train", "ijepa_tiny", "--out", "{new}/r", "train.threads=0", words=["threads"]),
    case("workers-negative", "train", "ijepa_tiny", "--out", "{new}/r", "train.num_workers=-1", words=["num_workers"]),
    case("log-every-0", "train", "ijepa_tiny", "--out", "{new}/r", "train.log_every=0", words=["log_every"]),
    case("checkpoint-every-0", "train", "ijepa_tiny", "--out", "{new}/r", "train.checkpoint_every=0",
         words=["checkpoint_every"]),
    case("patch-not-dividing", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/images",
         "data.image_size=30", "encoder.patch_size=4", "train.batch_size=4", words=["patch"]),
    case("heads-not-dividing", "train", "ijepa_tiny", "--out", "{new}/r", "encoder.width=30", "encoder.heads=4",
         words=["encoder.heads"]),
    case("unknown-method", "train", "ijepa_tiny", "--out", "{new}/r", "method.name=ijepaa", words=["ijepaa", "ijepa"]),
    case("unknown-masker", "train", "ijepa_tiny", "--out", "{new}/r", "method.mask.name=blocks",
         words=["blocks"]),
    case("unknown-builtin-data", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "shapez", words=["shapez"]),
    case("unknown-recipe", "train", "ijepa_tinyy", "--out", "{new}/r", words=["ijepa_tinyy", "ijepa_tiny"]),
    case("no-recipe", "train", "--out", "{new}/r", words=["recipe"]),
    case("two-recipes", "train", "ijepa_tiny", "lejepa_tiny", "--out", "{new}/r", words=["one recipe"]),
    case("recipe-file-missing", "train", "{ws}/mine.yaml", "--out", "{new}/r", words=["mine.yaml"]),
    case("recipe-file-broken", "train", "{ws}/broken.yaml", "--out", "{new}/r", words=["broken.yaml", "YAML"]),
    case("recipe-file-not-mapping", "train", "{ws}/list.yaml", "--out", "{new}/r", words=["list.yaml", "mapping"]),
    case("no-out", "train", "ijepa_tiny", words=["--out"]),
    case("out-holds-run", "train", "ijepa_tiny", "--out", "{ws}/img_run", "--steps", "2", *TINY,
         words=["already holds a run"]),
    case("out-user-folder", "train", "ijepa_tiny", "--out", "{ws}/user", "--steps", "2", *TINY,
         words=["not empty", "not an openjepa run"]),
    case("out-is-file", "train", "ijepa_tiny", "--out", "{ws}/notes.txt", "--steps", "2", *TINY,
         words=["notes.txt", "file"]),
    case("data-missing", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/nothing", words=["not found"]),
    case("data-empty", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/empty", words=["no images"]),
    case("data-fewer-than-batch", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/few", "--steps", "2",
         *TINY, words=["4 training samples", "batch"]),
    case("data-is-file", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/notes.txt", words=["notes.txt"]),
    case("image-recipe-on-store", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/store", "--steps", "2",
         *TINY, words=["trajectory store"]),
    case("world-recipe-on-images", "train", "lewm_tworoom_tiny", "--out", "{new}/r", "--data", "{ws}/images",
         "--steps", "2", *WORLD, words=["trajectory store"]),
    case("world-recipe-no-data", "train", "lewm_tworoom_tiny", "--out", "{new}/r", "--steps", "2", *WORLD,
         words=["--data", "collect"]),
    case("video-recipe-on-images", "train", "vjepa2_tiny", "--out", "{new}/r", "--data", "{ws}/images", "--steps", "1",
         *VIDEO, words=["video"]),
    case("ac-without-encoder", "train", "vjepa2ac_tworoom_tiny", "--out", "{new}/r", "--data", "{ws}/store",
         words=["--encoder"]),
    case("ac-encoder-not-run", "train", "vjepa2ac_tworoom_tiny", "--out", "{new}/r", "--data", "{ws}/store",
         "--encoder", "{ws}/user", "data.frames=3", "data.frame_step=2", words=["not an openjepa run"]),
    case("world-store-too-short", "train", "lewm_tworoom_tiny", "--out", "{new}/r", "--data", "{ws}/store",
         "--steps", "2", *WORLD, "data.frames=30", words=["no window fits"]),
    case("steps-0", "train", "ijepa_tiny", "--out", "{new}/r", "--steps", "0", words=["--steps", "positive"]),
    case("steps-negative", "train", "ijepa_tiny", "--out", "{new}/r", "--steps", "-1", words=["--steps"]),
    case("steps-word", "train", "ijepa_tiny", "--out", "{new}/r", "--steps", "many", words=["--steps"]),
    case("minutes-0", "train", "ijepa_tiny", "--out", "{new}/r", "--minutes", "0", words=["--minutes"]),
    case("minutes-negative", "train", "ijepa_tiny", "--out", "{new}/r", "--minutes", "-2", words=["--minutes"]),
    case("steps-and-minutes", "train", "ijepa_tiny", "--out", "{new}/r", "--steps", "5", "train.minutes=3",
         words=["train.minutes", "--steps"]),
    case("data-twice", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "digits", "data.dataset=shapes",
         words=["--data", "data.dataset"]),
    case("seed-twice", "train", "ijepa_tiny", "--out", "{new}/r", "--seed", "1", "train.seed=2",
         words=["--seed", "train.seed"]),
    case("stop-at-0", "train", "ijepa_tiny", "--out", "{new}/r", "--stop-at", "0", words=["--stop-at"]),
    case("stop-at-beyond", "train", "ijepa_tiny", "--out", "{new}/r", "--steps", "5", "--stop-at", "9",
         words=["--stop-at", "5"]),
    case("seed-word", "train", "ijepa_tiny", "--out", "{new}/r", "--seed", "x", words=["--seed"]),
    case("resume-missing", "train", "--resume", "{ws}/nothing", words=["not an openjepa run"]),
    case("resume-user-folder", "train", "--resume", "{ws}/user", words=["not an openjepa run"]),
    case("resume-with-recipe", "train", "ijepa_tiny", "--resume", "{ws}/img_run", words=["--resume"]),
    case("resume-with-override", "train", "--resume", "{ws}/img_run", "optim.lr=1", words=["--resume"]),
    case("resume-stop-at-0", "train", "--resume", "{ws}/img_run", "--stop-at", "0", words=["--stop-at"]),
    # eval
    case("eval-missing", "eval", "{ws}/nothing", words=["not an openjepa run"]),
    case("eval-user-folder", "eval", "{ws}/user", words=["not an openjepa run"]),
    case("eval-unknown-setting", "eval", "{ws}/img_run", "eval.knn_kk=3", words=["eval.knn_kk", "eval.knn_k"]),
    case("eval-other-section", "eval", "{ws}/img_run", "optim.lr=1", words=["eval."]),
    case("eval-broken-setting", "eval", "{ws}/img_run", "eval.knn_k=[1,", words=["eval.knn_k"]),
    case("eval-data-missing", "eval", "{ws}/img_run", "--data", "{ws}/nothing", words=["not found"]),
    case("latent-kind", "train", "ijepa_tiny", "--out", "{new}/r", "method.latent.kind=gaussian",
         words=["method.latent.kind"]),
    case("latent-codes", "train", "latentz_fork_tiny", "--out", "{new}/r", "method.latent.codes=0",
         words=["method.latent.codes"]),
    case("energy-one-file", "energy", "{ws}/img_run", "{ws}/notes.txt", words=["X and Y"]),
    case("energy-out-user-file", "energy", "{ws}/img_run", "--out", "{ws}/notes.txt", words=["not an earlier"]),
    case("eval-one-class", "eval", "{ws}/img_run", "--data", "{ws}/one_class", words=["one class", "two"]),
    case("eval-train-only", "eval", "{ws}/img_run", "--data", "{ws}/train_only", words=["test"]),
    case("eval-other-channels", "eval", "{ws}/img_run", "--data", "{ws}/rgb", words=["channel"]),
    case("eval-store-on-image-run", "eval", "{ws}/img_run", "--data", "{ws}/store", words=["trajectory store"]),
    case("eval-bad-encoder", "eval", "{ws}/img_run", "--encoder", "both", words=["--encoder"]),
    case("eval-out-user-file", "eval", "{ws}/img_run", "--out", "{ws}/notes.txt", words=["notes.txt", "exists"]),
    case("eval-out-folder", "eval", "{ws}/img_run", "--out", "{ws}/user", words=["folder"]),
    case("eval-device", "eval", "{ws}/img_run", "--device", "tpu", words=["tpu"]),
    case("eval-max-train-negative", "eval", "{ws}/img_run", "eval.max_train=-1", words=["eval.max_train"]),
    # embed
    case("embed-missing-model", "embed", "{ws}/nothing", "{ws}/img.png", "--out", "{new}/e.npy",
         words=["neither an openjepa run"]),
    case("embed-missing-input", "embed", "{ws}/img_run", "{ws}/nothing.png", "--out", "{new}/e.npy",
         words=["nothing.png"]),
    case("embed-broken-image", "embed", "{ws}/img_run", "{ws}/broken.png", "--out", "{new}/e.npy",
         words=["broken.png"]),
    case("embed-text-file", "embed", "{ws}/img_run", "{ws}/notes.txt", "--out", "{new}/e.npy", words=["notes.txt"]),
    case("embed-batch-0", "embed", "{ws}/img_run", "{ws}/img.png", "--out", "{new}/e.npy", "--batch-size", "0",
         words=["--batch-size"]),
    case("embed-out-folder", "embed", "{ws}/img_run", "{ws}/img.png", "--out", "{ws}/user", words=["folder"]),
    case("embed-no-out", "embed", "{ws}/img_run", "{ws}/img.png", words=["--out"]),
    case("embed-per-step-image", "embed", "{ws}/img_run", "{ws}/img.png", "--out", "{new}/e.npy", "--per-step",
         words=["video"]),
    case("embed-predictor-image", "embed", "{ws}/img_run", "{ws}/img.png", "--out", "{new}/e.npy", "--predictor",
         words=["video"]),
    case("embed-masks-missing", "embed", "{ws}/vid_run", "{ws}/img.png", "--out", "{new}/e.npy", "--predictor",
         "--masks", "{ws}/nothing.npz", words=["nothing.npz"]),
    case("embed-masks-bad", "embed", "{ws}/vid_run", "{ws}/img.png", "--out", "{new}/e.npy", "--predictor",
         "--masks", "{ws}/bad_masks.npz", words=["context", "target"]),
    case("embed-context-steps-0", "embed", "{ws}/vid_run", "{ws}/img.png", "--out", "{new}/e.npy", "--predictor",
         "--context-steps", "0", words=["--context-steps"]),
    case("embed-hf-broken", "embed", "{ws}/hf_broken", "{ws}/img.png", "--out", "{new}/e.npy",
         words=["config.json"]),
    case("embed-hf-mismatch", "embed", "{ws}/hf_mismatch", "{ws}/img.png", "--out", "{new}/e.npy",
         words=["hidden_size"]),
    case("embed-store-folder", "embed", "{ws}/store", "{ws}/img.png", "--out", "{new}/e.npy",
         words=["neither an openjepa run"]),
    # export-hf
    case("export-video-run", "export-hf", "{ws}/vid_run", "--out", "{new}/hf_video", words=["image"]),
    case("export-store", "export-hf", "{ws}/store", "--out", "{new}/hf_world", words=["neither an openjepa run"]),
    case("export-missing", "export-hf", "{ws}/nothing", "--out", "{new}/hf2", words=["neither an openjepa run"]),
    case("export-out-user-folder", "export-hf", "{ws}/img_run", "--out", "{ws}/user", words=["not empty"]),
    case("export-out-file", "export-hf", "{ws}/img_run", "--out", "{ws}/notes.txt", words=["notes.txt"]),
    case("export-bad-encoder", "export-hf", "{ws}/img_run", "--out", "{new}/hf3", "--encoder", "x",
         words=["--encoder"]),
    # collect
    case("collect-env-typo", "collect", "tworom", "--episodes", "2", "--out", "{new}/s", words=["tworom", "tworoom"]),
    case("collect-policy-typo", "collect", "tworoom", "--episodes", "2", "--policy", "expertt", "--out", "{new}/s",
         words=["expertt", "expert"]),
    case("collect-episodes-0", "collect", "tworoom", "--episodes", "0", "--out", "{new}/s", words=["--episodes"]),
    case("collect-episodes-negative", "collect", "tworoom", "--episodes", "-3", "--out", "{new}/s",
         words=["--episodes"]),
    case("collect-existing-store", "collect", "tworoom", "--episodes", "2", "--out", "{ws}/store",
         words=["--overwrite"]),
    case("collect-user-folder", "collect", "tworoom", "--episodes", "2", "--out", "{ws}/user", "--overwrite",
         words=["not a trajectory store"]),
    case("collect-image-size-0", "collect", "tworoom", "--episodes", "2", "--image-size", "0", "--out", "{new}/s",
         words=["--image-size"]),
    case("collect-max-steps-0", "collect", "tworoom", "--episodes", "2", "--max-steps", "0", "--out", "{new}/s",
         words=["--max-steps"]),
    case("collect-no-out", "collect", "tworoom", "--episodes", "2", words=["--out"]),
    # plan
    case("plan-bad-json", "plan", "{ws}/world_run", "--planner-args", "{samples: 3", words=["--planner-args", "JSON"]),
    case("plan-json-not-object", "plan", "{ws}/world_run", "--planner-args", "[1, 2]",
         words=["--planner-args", "object"]),
    case("plan-unknown-planner-arg", "plan", "{ws}/world_run", "--planner-args", '{"sampless": 3}',
         words=["sampless", "samples"]),
    case("plan-episodes-0", "plan", "{ws}/world_run", "--episodes", "0", words=["--episodes"]),
    case("plan-planner-typo", "plan", "{ws}/world_run", "--planner", "cme", words=["cme", "cem"]),
    case("plan-env-typo", "plan", "{ws}/world_run", "--env", "tworom", words=["tworom", "tworoom"]),
    case("plan-image-run", "plan", "{ws}/img_run", words=["world model"]),
    case("plan-missing-run", "plan", "{ws}/nothing", words=["not an openjepa run"]),
    case("plan-horizon-0", "plan", "{ws}/world_run", "--horizon", "0", words=["--horizon"]),
    case("plan-execute-0", "plan", "{ws}/world_run", "--execute", "0", words=["--execute"]),
    case("plan-threads-0", "plan", "{ws}/world_run", "--threads", "0", words=["--threads"]),
    case("plan-max-steps-0", "plan", "{ws}/world_run", "--max-steps", "0", words=["--max-steps"]),
    case("plan-out-user-file", "plan", "{ws}/world_run", "--episodes", "1", "--out", "{ws}/notes.txt",
         words=["notes.txt", "exists"]),
    # surprise and fit-predictor
    case("surprise-image-run", "surprise", "{ws}/img_run", "--out", "{new}/s.json", words=["video"]),
    case("surprise-missing-run", "surprise", "{ws}/nothing", "--out", "{new}/s.json", words=["not an openjepa run"]),
    case("surprise-quadruplets-0", "surprise", "{ws}/vid_run", "--out", "{new}/s.json", "--quadruplets", "0",
         words=["--quadruplets"]),
    case("surprise-data-missing", "surprise", "{ws}/vid_run", "--out", "{new}/s.json", "--data", "{ws}/nothing",
         words=["not found"]),
    case("surprise-out-user-file", "surprise", "{ws}/vid_run", "--out", "{ws}/notes.txt",
         words=["notes.txt", "exists"]),
    case("flow-image-run", "flow", "{ws}/img_run", "{ws}/nothing.mp4", "--out", "{new}/f.npy", words=["mcjepa"]),
    case("flow-missing-run", "flow", "{ws}/nothing", "{ws}/nothing.mp4", "--out", "{new}/f.npy",
         words=["not an openjepa run"]),
    case("flow-frames-0", "flow", "{ws}/img_run", "{ws}/nothing.mp4", "--out", "{new}/f.npy", "--frames", "0",
         words=["--frames"]),
    case("flow-out-user-file", "flow", "{ws}/img_run", "{ws}/nothing.mp4", "--out", "{ws}/notes.txt",
         words=["notes.txt", "exists"]),
    case("fit-predictor-image-run", "fit-predictor", "{ws}/img_run", "--out", "{new}/f", words=["video"]),
    case("fit-predictor-steps-0", "fit-predictor", "{ws}/vid_run", "--out", "{new}/f", "--steps", "0",
         words=["--steps"]),
    case("fit-predictor-out-run", "fit-predictor", "{ws}/vid_run", "--out", "{ws}/img_run", "--steps", "2",
         words=["already holds a run"]),
    case("fit-predictor-lr-negative", "fit-predictor", "{ws}/vid_run", "--out", "{new}/f", "--lr", "-1",
         words=["--lr"]),
    case("fit-predictor-batch-0", "fit-predictor", "{ws}/vid_run", "--out", "{new}/f", "--batch-size", "0",
         words=["--batch-size"]),
    # classify, similarity, search
    case("classify-no-probe", "classify", "{ws}/world_run", "{ws}/img.png", words=["openjepa eval"]),
    case("classify-missing-run", "classify", "{ws}/nothing", "{ws}/img.png", words=["neither an openjepa run"]),
    case("classify-missing-image", "classify", "{ws}/img_run", "{ws}/nothing.png", words=["nothing.png"]),
    case("classify-broken-image", "classify", "{ws}/img_run", "{ws}/broken.png", words=["broken.png"]),
    case("classify-hf-without-head", "classify", "{ws}/hf", "{ws}/img.png", words=["head"]),
    case("classify-probe-missing", "classify", "{ws}/img_run", "{ws}/img.png", "--probe", "{ws}/nothing.safetensors",
         words=["nothing.safetensors"]),
    case("classify-probe-not-safetensors", "classify", "{ws}/img_run", "{ws}/img.png", "--probe", "{ws}/notes.txt",
         words=["notes.txt"]),
    case("classify-batch-0", "classify", "{ws}/img_run", "{ws}/img.png", "--batch-size", "0", words=["--batch-size"]),
    case("classify-no-inputs", "classify", "{ws}/img_run", words=["inputs"]),
    case("similarity-missing", "similarity", "{ws}/img_run", "{ws}/img.png", "{ws}/nothing.png",
         words=["nothing.png"]),
    case("similarity-text", "similarity", "{ws}/img_run", "{ws}/img.png", "{ws}/notes.txt", words=["notes.txt"]),
    case("similarity-one-file", "similarity", "{ws}/img_run", "{ws}/img.png", words=["required: b"]),
    case("similarity-hf-broken", "similarity", "{ws}/hf_broken", "{ws}/img.png", "{ws}/img.png",
         words=["config.json"]),
    case("search-k-0", "search", "{ws}/img_run", "{ws}/img.png", "--in", "{ws}/images", "-k", "0", words=["-k"]),
    case("search-empty-folder", "search", "{ws}/img_run", "{ws}/img.png", "--in", "{ws}/empty", words=["empty"]),
    case("search-missing-folder", "search", "{ws}/img_run", "{ws}/img.png", "--in", "{ws}/nothing",
         words=["nothing"]),
    case("search-folder-is-file", "search", "{ws}/img_run", "{ws}/img.png", "--in", "{ws}/notes.txt",
         words=["notes.txt"]),
    case("search-missing-query", "search", "{ws}/img_run", "{ws}/nothing.png", "--in", "{ws}/images",
         words=["nothing.png"]),
    case("search-no-in", "search", "{ws}/img_run", "{ws}/img.png", words=["--in"]),
    # bench, recipes, demo
    # sounds and point clouds
    case("sound-file-empty", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds_empty", *AUDIO,
         words=["empty", "1.wav"]),
    case("sound-file-unreadable", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds_broken",
         *AUDIO, words=["cannot read", "1.wav"]),
    case("sound-file-silent", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds_silent", *AUDIO,
         words=["silent", "1.wav"]),
    case("sample-rate-0", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds", *AUDIO,
         "data.sample_rate=0", words=["data.sample_rate"]),
    case("fmax-above-nyquist", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds", *AUDIO,
         "data.fmax=9000", words=["fmax", "8000"]),
    case("mels-not-dividing", "train", "audiojepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds", *AUDIO,
         "data.n_mels=30", words=["patch_size"]),
    case("sounds-given-to-images", "train", "ijepa_tiny", "--out", "{new}/r", "--data", "{ws}/sounds", *TINY,
         words=["no images"]),
    case("embed-broken-sound", "embed", "{ws}/audio_run", "{ws}/broken.wav", "--out", "{new}/e.npy",
         words=["broken.wav"]),
    case("points-nan", "train", "pointjepa_tiny", "--out", "{new}/r", "--data", "{ws}/points_nan", *POINTS,
         words=["NaN", "1.npy"]),
    case("points-fewer-than-a-group", "train", "pointjepa_tiny", "--out", "{new}/r", "--data", "{ws}/points_few",
         *POINTS, words=["5 points", "group"]),
    case("mesh-without-points", "train", "jepa3d_tiny", "--out", "{new}/r", "--data", "{ws}/points_no_faces",
         *POINTS, words=["1.off"]),
    case("groups-above-points", "train", "pointjepa_tiny", "--out", "{new}/r", "--data", "{ws}/points", *POINTS,
         "data.groups=128", words=["data.points", "data.groups"]),
    case("point-encoder-with-grid-positions", "train", "pointjepa_tiny", "--out", "{new}/r", "--data", "{ws}/points",
         *POINTS, "encoder.pos_embed=sincos", words=["pos_embed"]),
    case("embed-nan-points", "embed", "{ws}/point_run", "{ws}/nan.npy", "--out", "{new}/e.npy", words=["NaN"]),
    case("bench-sizes", "bench", "--sizes", "nonsense", words=["nonsense", "tiny"]),
    case("bench-steps-0", "bench", "--steps", "0", words=["--steps"]),
    case("bench-batch-0", "bench", "--batch-size", "0", words=["--batch-size"]),
    case("bench-precision", "bench", "--precision", "fp16", words=["--precision"]),
    case("recipes-typo", "recipes", "ijepa_tinyy", words=["ijepa_tinyy", "ijepa_tiny"]),
    case("demo-minutes-0", "demo", "--minutes", "0", words=["--minutes"]),
    case("demo-minutes-negative", "demo", "--minutes", "-1", words=["--minutes"]),
    case("demo-out-run", "demo", "--out", "{ws}/img_run", "--minutes", "0.01", words=["already holds a run"]),
    case("demo-out-user-folder", "demo", "--out", "{ws}/user", "--minutes", "0.01", words=["not empty"]),
]


@pytest.mark.parametrize("argv,code,words", CLI_CASES)
def test_a_bad_command_line_gets_one_clear_line_and_changes_nothing(ws, argv, code, words, request):
    before = hashes(ws)
    new = ws / "new" / request.node.callspec.id
    argv = [a.replace("{ws}", str(ws)).replace("{new}", str(new)) for a in argv]
    done = run_cli(argv, timeout=120)
    first = done.err.strip().splitlines()[0] if done.err.strip() else ""
    assert "Traceback" not in done.err, done.err
    assert done.code == code, f"exit {done.code}, stderr: {done.err}"
    for word in words:
        assert word.lower() in first.lower(), f"{word!r} not in {first!r}"
    assert not changed(before, hashes(ws))
    left = [p for p in new.rglob("*") if p.is_file()] if new.exists() else []
    assert not left, f"a refused command wrote {left}"  # nor does it leave new files behind


def api(id, call, error, *words):
    return pytest.param(call, error, words, id=id)


PIXELS = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
API_CASES = [
    api("train-unknown-recipe", lambda ws: openjepa.train("ijepa_tinyy", ws / "new" / "a"), errors.ConfigError,
        "ijepa_tiny"),
    api("train-unknown-key", lambda ws: openjepa.train("ijepa_tiny", ws / "new" / "b", overrides=["optim.lrr=1"]),
        errors.ConfigError, "optim.lrr", "optim.lr"),
    api("train-user-folder", lambda ws: openjepa.train("ijepa_tiny", ws / "user", overrides=TINY + ["train.steps=2"]),
        errors.TrainingError, "not empty"),
    api("train-existing-run", lambda ws: openjepa.train("ijepa_tiny", ws / "img_run", overrides=TINY),
        errors.TrainingError, "already holds a run"),
    api("train-resume-missing", lambda ws: openjepa.train(None, ws / "nothing", resume=True), errors.TrainingError,
        "not an openjepa run"),
    api("load-missing", lambda ws: openjepa.load(ws / "nothing"), errors.TrainingError, "neither an openjepa run"),
    api("load-hf-broken", lambda ws: openjepa.load(ws / "hf_broken"), errors.WeightsError, "config.json"),
    api("load-hf-mismatch", lambda ws: openjepa.load(ws / "hf_mismatch"), errors.WeightsError, "hidden_size 48"),
    api("embed-shape", lambda ws: openjepa.embed(ws / "img_run", torch.zeros(2, 16, 16, dtype=torch.uint8)),
        errors.DataError, "(N, C, H, W)"),
    api("embed-channels", lambda ws: openjepa.embed(ws / "img_run", torch.zeros(2, 3, 16, 16, dtype=torch.uint8)),
        errors.DataError, "C=1"),
    api("embed-float-range", lambda ws: openjepa.embed(ws / "img_run", PIXELS.float() + 7), errors.DataError,
        "[0, 1]"),
    api("embed-nan", lambda ws: openjepa.embed(ws / "img_run", PIXELS.float() * float("nan")), errors.DataError,
        "[0, 1]"),
    api("embed-int64", lambda ws: openjepa.embed(ws / "img_run", PIXELS.long()), errors.DataError, "uint8"),
    api("embed-nothing", lambda ws: openjepa.embed(ws / "img_run", []), errors.DataError, "no inputs"),
    api("embed-batch-0", lambda ws: openjepa.embed(ws / "img_run", PIXELS, batch_size=0), errors.ConfigError,
        "batch_size"),
    api("embed-missing-file", lambda ws: openjepa.embed(ws / "img_run", [ws / "nothing.png"]), errors.DataError,
        "nothing.png"),
    api("embed-per-step-image", lambda ws: openjepa.embed(ws / "img_run", PIXELS, per_step=True), errors.DataError,
        "video"),
    api("evaluate-missing", lambda ws: openjepa.evaluate(ws / "nothing"), errors.TrainingError, "not an openjepa run"),
    api("evaluate-one-class", lambda ws: openjepa.evaluate(ws / "img_run", str(ws / "one_class")), errors.DataError,
        "one class"),
    api("evaluate-train-only", lambda ws: openjepa.evaluate(ws / "img_run", str(ws / "train_only")), errors.DataError,
        "no test split"),
    api("evaluate-out-user-file", lambda ws: openjepa.evaluate(ws / "img_run", out=ws / "notes.txt"),
        errors.ConfigError, "exists"),
    api("evaluate-setting", lambda ws: openjepa.evaluate(ws / "img_run", settings=["eval.knn_kk=1"]),
        errors.ConfigError, "eval.knn_kk"),
    api("predict-image-run", lambda ws: predict(ws / "img_run", PIXELS), errors.TrainingError, "video"),
    api("fit-predictor-image-run", lambda ws: fit_predictor(ws / "img_run", ws / "new" / "f"), errors.TrainingError,
        "video"),
    api("classify-no-probe", lambda ws: openjepa.classify(ws / "world_run", [ws / "img.png"]), errors.CheckpointError,
        "openjepa eval"),
    api("classify-no-inputs", lambda ws: openjepa.classify(ws / "img_run", []), errors.DataError, "no"),
    api("similarity-missing", lambda ws: openjepa.similarity(ws / "img_run", ws / "img.png", ws / "nothing.png"),
        errors.DataError, "nothing.png"),
    api("search-k-0", lambda ws: openjepa.search(ws / "img_run", [ws / "img.png"], ws / "images", k=0),
        errors.ConfigError, "k"),
    api("search-empty", lambda ws: openjepa.search(ws / "img_run", [ws / "img.png"], ws / "empty"), errors.DataError,
        "empty"),
    api("export-video-run", lambda ws: openjepa.api.export_hf(ws / "vid_run", ws / "new" / "hfv"), errors.ConfigError,
        "video"),
]


@pytest.mark.parametrize("call,error,words", API_CASES)
def test_a_bad_call_raises_an_openjepa_error_and_changes_nothing(ws, call, error, words):
    before = hashes(ws)
    with pytest.raises(error) as raised:
        call(ws)
    for word in words:
        assert word in str(raised.value), str(raised.value)
    assert not changed(before, hashes(ws))
