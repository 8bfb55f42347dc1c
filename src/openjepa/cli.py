"""``openjepa`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

RECIPE_HELP = "recipe name (see `openjepa recipes`) or a YAML file"
OVERRIDE_HELP = "config overrides as key.sub=value, e.g. optim.lr=5e-4 method.mask.num_targets=3"


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a recipe", description=(
        "Train a recipe into --out, or continue a stopped run with --resume DIR. Stop any time with Ctrl-C: "
        "a checkpoint is written and --resume continues with identical numbers."))
    p.add_argument("args", nargs="*", metavar="RECIPE [key=value ...]", help=f"{RECIPE_HELP}; then {OVERRIDE_HELP}")
    p.add_argument("--out", type=Path, help="run folder to create (must not hold a run already)")
    p.add_argument("--data", help="dataset (sets data.dataset): a built-in name or a path that the recipe's kind of "
                                  "input reads: images (class folders, MNIST IDX files, CIFAR batches), videos "
                                  "(class folders, a list file), sounds (class folders of wav/flac/ogg), point clouds "
                                  "(class folders or ModelNet's layout of meshes and point files) or a trajectory "
                                  "store (openjepa collect)")
    p.add_argument("--encoder", metavar="RUN", help="start from another encoder (sets init.run): an openjepa run, or "
                                                   "an HF I-JEPA or V-JEPA 2 folder; frozen in recipes on a frozen "
                                                   "encoder (vjepa2ac_*, vljepa with method.freeze_encoder=true)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=_positive_float, help="time budget: the schedule is fitted to it after "
                                                                "timing the first steps (sets train.minutes)")
    budget.add_argument("--steps", type=_positive_int, help="schedule length in optimizer steps (sets train.steps)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and masks (sets train.seed)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    p.add_argument("--allow-data-change", action="store_true", help="with --resume: go on although the data differ "
                   "from those the run started on (RUN/data.json); the numbers then differ from an uninterrupted run")
    p.add_argument("--stop-at", type=_positive_int, metavar="N",
                   help="stop (with a checkpoint) after step N, keeping the schedule")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_train(args) -> int:
    from openjepa.core.errors import ConfigError
    from openjepa.runs.config import build_config, recipe_dict
    from openjepa.train.loop import fit

    recipe = [a for a in args.args if "=" not in a]
    overrides = [a for a in args.args if "=" in a]
    if args.resume is not None:
        if recipe or overrides or args.out or args.data or args.encoder or args.steps or args.seed is not None:
            raise ConfigError("--resume DIR continues a run as configured; only --minutes and --stop-at may be given")
        from openjepa.runs.files import load_run_config

        cfg = load_run_config(args.resume)
        cfg.train.minutes = args.minutes if args.minutes is not None else cfg.train.minutes
        cfg.train.stop_at = args.stop_at
        fit(cfg, args.resume, resume=True, progress=not args.quiet, allow_data_change=args.allow_data_change)
        return 0
    if args.allow_data_change:
        raise ConfigError("--allow-data-change goes with --resume DIR only")
    if len(recipe) != 1:
        raise ConfigError(f"give exactly one recipe, got {recipe or 'none'}; see `openjepa recipes`")
    if args.out is None:
        raise ConfigError("--out DIR is required (the run folder to create)")
    _refuse_flag_and_override(args, overrides)
    flags = []
    if args.data:
        flags.append(f"data.dataset={args.data}")
    if args.encoder:
        flags.append(f"init.run={args.encoder}")
    if args.minutes is not None:
        flags.append(f"train.minutes={args.minutes}")
    if args.steps is not None:
        flags += [f"train.steps={args.steps}", "train.minutes=null"]
    if args.seed is not None:
        flags.append(f"train.seed={args.seed}")
    if args.stop_at is not None:
        flags.append(f"train.stop_at={args.stop_at}")
    cfg = build_config(recipe_dict(recipe[0]), overrides + flags)
    fit(cfg, args.out, progress=not args.quiet)
    print(f"trained: {args.out} (evaluate with: openjepa eval {args.out})")
    return 0


FLAG_KEYS = {"data": ["data.dataset"], "encoder": ["init.run"], "minutes": ["train.minutes", "train.steps"],
             "steps": ["train.steps", "train.minutes"], "seed": ["train.seed"], "stop_at": ["train.stop_at"]}


def _refuse_flag_and_override(args, overrides: list[str]) -> None:
    """A flag and an override that set the same thing (``--steps 5 train.minutes=3``): one of them would be
    dropped, so neither is taken."""
    from openjepa.core.errors import ConfigError

    keys = {o.split("=", 1)[0].strip() for o in overrides}
    for flag, covered in FLAG_KEYS.items():
        clash = sorted(keys & set(covered))
        if getattr(args, flag) is not None and clash:
            raise ConfigError(f"--{flag.replace('_', '-')} and the override {clash[0]}=... both set "
                              f"{covered[0].split('.')[0]} settings; give one of them")


def _cmd_recipes(args) -> int:
    from openjepa.runs.config import list_recipes, recipe_dict, recipe_files

    if args.name:
        if args.name not in recipe_files():
            recipe_dict(args.name)  # the error names the nearest recipe
        print(recipe_files()[args.name].read_text(), end="")
        return 0
    recipes = list_recipes()
    name_width = max(len(r.name) for r in recipes)
    member_width = max(len(r.member) for r in recipes)
    modality = member = None
    for r in recipes:
        if r.modality != modality:
            print(f"{'' if modality is None else chr(10)}{r.modality}")
            modality, member = r.modality, None
        shown = r.member if r.member != member else ""
        print(f"  {shown:<{member_width}}  {r.name:<{name_width}}  {r.description}")
        member = r.member
    return 0


def _cmd_eval(args) -> int:
    from openjepa.eval.evaluate import evaluate_run

    evaluation = evaluate_run(args.run, args.data, device=args.device, encoder=args.encoder, out=args.out,
                              settings=args.settings)
    print(evaluation.table)
    print(f"wrote {args.out or args.run / 'eval.json'}")
    return 0


def _cmd_embed(args) -> int:
    import numpy as np

    from openjepa.api import embed
    from openjepa.core.errors import ConfigError

    if args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name (.npy, or .npz with --predictor)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.predictor:
        return _embed_with_predictor(args)
    features = embed(args.model, args.inputs, tokens=args.tokens, per_step=args.per_step, batch_size=args.batch_size)
    np.save(args.out, features)
    print(f"wrote {args.out}: {features.shape[0]} inputs -> {tuple(features.shape[1:])} features")
    return 0


def _embed_with_predictor(args) -> int:
    import numpy as np
    import torch

    from openjepa.api import predict
    from openjepa.core.errors import ConfigError

    if args.per_step:
        raise ConfigError("--per-step and --predictor do not go together: the predictor's features are those of the "
                          "target encoder on whole clips, as in training")
    context = target = None
    if args.masks is not None:
        masks = np.load(args.masks)
        if "context" not in masks or "target" not in masks:
            raise ConfigError(f"{args.masks} must hold integer arrays 'context' and 'target' (token ids)")
        context, target = torch.as_tensor(masks["context"]).long(), torch.as_tensor(masks["target"]).long()
    features, predicted, context, target = predict(args.model, args.inputs, context, target,
                                                   context_steps=args.context_steps)
    out = args.out.with_suffix(".npz")
    np.savez(out, features=features, predicted=predicted, context=context.numpy(), target=target.numpy())
    print(f"wrote {out}: features {features.shape}, predicted {predicted.shape} "
          f"({len(context)} context -> {len(target)} target tokens)")
    return 0


def _cmd_surprise(args) -> int:

    from openjepa.eval.surprise import surprise_run
    from openjepa.runs.files import check_report_target, write_json_atomic

    check_report_target(args.out, ("predict_change", "clips"), "surprise")
    report = surprise_run(args.run, data=args.data, quadruplets=args.quadruplets)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, report)
    if "pairwise_accuracy" in report:
        print(f"intuitive-physics quadruplets ({report['quadruplets']}): "
              f"pairwise accuracy {report['pairwise_accuracy']:.3f}, "
              f"AUROC {report['auroc']:.3f}; random init {report['random_init']['pairwise_accuracy']:.3f} / "
              f"{report['random_init']['auroc']:.3f}")
        print("  by violation: " + ", ".join(f"{kind} {scores['pairwise_accuracy']:.2f}"
                                             for kind, scores in report["per_kind"].items()))
    print(f"wrote {args.out}")
    return 0


def _cmd_energy(args) -> int:
    from openjepa.core.errors import ConfigError
    from openjepa.runs.files import check_report_target, write_json_atomic

    if (args.x is None) != (args.y is None):
        raise ConfigError("give both X and Y (a pair to score), or neither (true against shuffled held-out pairs)")
    if args.out is not None:
        check_report_target(args.out, ("auroc", "free_energy"), "energy")
    if args.x is None:
        from openjepa.eval.energy_report import energy_report

        report = energy_report(args.run, pairs=args.pairs)
        print(f"true vs shuffled pairs ({report['pairs']}, latent {report['latent']}): AUROC {report['auroc']:.3f}, "
              f"energy gap {report['energy_gap']:.4f} (true {report['true_energy']:.4f}, shuffled "
              f"{report['shuffled_energy']:.4f}); random init AUROC {report['random_init']['auroc']:.3f}, gap "
              f"{report['random_init']['energy_gap']:.4f}")
    else:
        import numpy as np
        import torch

        from openjepa.api import energy, free_energy

        actions = None
        if args.actions is not None:
            actions = torch.from_numpy(np.load(args.actions)).float()
            actions = actions.reshape(1, -1, actions.shape[-1])  # one pair: (1, h, A)
        x, y = [args.x], [args.y]
        report = {"x": str(args.x), "y": str(args.y), "free_energy": float(free_energy(args.run, x, y,
                                                                                        actions=actions)[0]),
                  "energy": energy(args.run, x, y, actions=actions)[0].tolist()}
        print(f"F(x, y) = {report['free_energy']:.4f}; E under each starting latent: "
              + ", ".join(f"{e:.4f}" for e in report["energy"]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, report)
        print(f"wrote {args.out}")
    return 0


def _cmd_fill(args) -> int:
    from openjepa.api import fill

    for word, score in fill(args.run, args.sentence, k=args.k):
        print(f"{word:16} {score:.3f}")
    return 0


def _cmd_caption(args) -> int:
    from openjepa.api import caption

    pool = None
    if args.captions is not None:
        from openjepa.core.errors import DataError
        from openjepa.data.text_folder import TextReadError, read_text_file

        try:
            pool = read_text_file(args.captions).splitlines()
        except TextReadError as err:
            raise DataError(f"--captions: {err}") from None
    for path, nearest in zip(args.images, caption(args.run, args.images, k=args.k, captions=pool)):
        print(path)
        for text, score in nearest:
            print(f"  {score:.3f}  {text}")
    return 0


def _cmd_flow(args) -> int:
    import numpy as np

    from openjepa.api import flow
    from openjepa.core.errors import ConfigError

    for path in filter(None, (args.out, args.png)):
        if path.exists():
            raise ConfigError(f"{path} exists; give another file name (nothing was overwritten)")
    flows = flow(args.run, args.clip, frames=args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, flows.astype(np.float32))
    speed = np.linalg.norm(flows, axis=1)
    print(f"wrote {args.out}: flow {flows.shape} (pairs, dx dy, H, W) in pixels; mean speed {speed.mean():.3f} px, "
          f"largest {speed.max():.2f} px")
    if args.png:
        from openjepa.viz.flow import save_flow_sheet

        rows = [[flows[i]] for i in range(min(len(flows), 8))]
        save_flow_sheet(rows, args.png, max_speed=max(float(speed.max()), 1.0))
        print(f"wrote {args.png}")
    return 0


def _cmd_fit_predictor(args) -> int:
    from openjepa.api import fit_predictor

    fit_predictor(args.run, args.out, steps=args.steps, data=args.data, lr=args.lr, batch_size=args.batch_size,
                  seed=args.seed, progress=not args.quiet)
    print(f"fitted: {args.out} (score it with: openjepa surprise {args.out} --out {args.out}/surprise.json)")
    return 0


def _cmd_export_hf(args) -> int:
    from openjepa.api import export_hf

    export_hf(args.run, args.out, encoder=args.encoder)
    print(f"wrote {args.out} (load with transformers.IJepaModel.from_pretrained)")
    return 0


def _cmd_demo(args) -> int:
    from openjepa.demo import run_demo

    run_demo(args.out, minutes=args.minutes)
    return 0


def _cmd_bench(args) -> int:
    from openjepa.core.errors import ConfigError

    if args.json is not None and not args.vs_reference:
        raise ConfigError("--json writes the figures of --vs-reference; add --vs-reference")
    if args.json is not None and args.json.exists():
        raise ConfigError(f"{args.json} exists; give another file name (nothing was overwritten)")
    if args.vs_reference:
        from openjepa.bench.vs_reference import run_vs_reference

        run_vs_reference(args.precision, rounds=args.rounds, steps=args.steps, json_path=args.json)
        return 0
    if args.world:
        from openjepa.bench.world import run_world_bench

        run_world_bench(steps=args.steps)
        return 0
    from openjepa.bench.steps import run_bench

    sizes = args.sizes or (["tiny", "large"] if args.video else ["tiny", "small"])
    run_bench(sizes=sizes, precisions=args.precision, steps=args.steps, batch_size=args.batch_size, video=args.video)
    return 0


def _cmd_collect(args) -> int:
    from openjepa.control.collect import collect
    from openjepa.runs.config import recipe_files

    store = collect(args.env, args.episodes, args.policy, args.out, seed=args.seed, image_size=args.image_size,
                    max_steps=args.max_steps, overwrite=args.overwrite, progress=not args.quiet)
    recipe = f"lewm_{args.env}_tiny" if f"lewm_{args.env}_tiny" in recipe_files() else "lewm_tworoom_tiny"
    print(f"wrote {args.out}: {store.num_episodes} episodes, {store.num_steps} frames (train a world model with: "
          f"openjepa train {recipe} --data {args.out} --out RUN; a policy from expert demonstrations with: "
          f"openjepa train actjepa_tiny --data {args.out} --out RUN)")
    return 0


def _cmd_rollout(args) -> int:
    from openjepa.eval.rollout import rollout_run

    execution = {key: getattr(args, key) for key in ("execute",) if getattr(args, key) is not None}
    if args.no_ensemble or (args.execute and args.ensemble is None):
        execution["ensemble"] = None
    elif args.ensemble is not None:
        execution["ensemble"] = args.ensemble
    report = rollout_run(args.run, env=args.env, episodes=args.episodes, out=args.out, seed=args.seed,
                         max_steps=args.max_steps, beside=args.beside, execution=execution, progress=not args.quiet)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))
    return 0


def _cmd_plan(args) -> int:
    from openjepa.eval.planning import plan_run

    overrides = {}
    for key in ("horizon", "execute", "max_steps", "cost", "latent", "precision"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.planner_args:
        overrides["planner_args"] = _json_object(args.planner_args, "--planner-args")
    report = plan_run(args.run, env=args.env, episodes=args.episodes, planner=args.planner, out=args.out,
                      seed=args.seed, threads=args.threads, overrides=overrides, progress=not args.quiet)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with the problem on one line of stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="openjepa", description="Joint Embedding Predictive Architectures: "
                                     "train, evaluate and use JEPA encoders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback (anywhere "
                                                             "on the line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="train a small I-JEPA on built-in shapes, evaluate it, write a report",
                       description="Train ijepa_tiny on the built-in shapes dataset within a time budget, then "
                                   "compare linear/kNN/low-shot accuracy with the random-init encoder and raw pixels.")
    p.add_argument("--out", type=Path, help="output folder (default: runs/demo-<time>)")
    p.add_argument("--minutes", type=_positive_float, default=6.5, help="training time budget (default 6.5)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("recipes", help="list the recipes, or print one", description=(
        "List every shipped recipe, grouped by the kind of input it reads and the family member it reproduces; "
        "with a NAME, print that recipe's YAML (copy it to start your own: openjepa train my.yaml ...)."))
    p.add_argument("name", nargs="?", metavar="NAME", help="a recipe to print")
    p.set_defaults(func=_cmd_recipes)

    _train_parser(sub)
    sub.choices["train"].set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a run", description=(
        "Image runs: linear-probe, kNN and low-shot (10 labels per class) accuracy of the run's encoder, of the "
        "same architecture at random init, and of raw pixels, on the test split. Video runs: attentive-probe "
        "accuracy of the trained encoder, its random init and the trained encoder on a still first frame, plus "
        "dense probes where the dataset has sprite masks. World-model runs: R^2 of a ridge readout of the state. "
        "Writes RUN/eval.json."))
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("settings", nargs="*", metavar="eval.KEY=VALUE",
                   help="evaluation settings to change, e.g. eval.probe_flips=none eval.attentive_epochs=20")
    p.add_argument("--data", help="evaluate on this dataset instead of the run's (same channels)")
    p.add_argument("--encoder", choices=["target", "context"],
                   help="which encoder to probe (default: the run's eval.encoder in its config.yaml; the tiny "
                        "I-JEPA and V-JEPA recipes probe 'context', the others 'target')")
    p.add_argument("--out", type=Path, help="write the results here instead of RUN/eval.json")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("embed", help="write embeddings of images, videos, sounds, point clouds or texts",
                       description=(
        "Embed image, video, sound, point-cloud or .txt files (text runs also take texts as they are, quoted) with "
        "a run's encoder (or an HF I-JEPA / V-JEPA 2 folder) and save them as "
        ".npy: (N, D) mean-pooled features, or (N, L, D) tokens with --tokens. Video encoders read the centred "
        "clip of each file. --predictor (video) also runs the predictor and writes an .npz with 'features', "
        "'predicted', 'context' and 'target'."))
    p.add_argument("model", type=Path, help="run folder or HF I-JEPA / V-JEPA 2 folder")
    p.add_argument("inputs", nargs="+", help="files of the run's kind of input (images, videos, sounds, meshes or "
                                             "point files, .txt files), or texts for a text run")
    p.add_argument("--out", type=Path, required=True, help="output .npy file (.npz with --predictor)")
    p.add_argument("--tokens", action="store_true", help="save per-token features instead of their mean")
    p.add_argument("--per-step", action="store_true", help="video: encode each time step of a clip on its own, "
                   "as eval.tokens=step does (vjepa_tiny's runs are evaluated so)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="inputs per forward pass (default 256)")
    p.add_argument("--predictor", action="store_true", help="also predict target tokens from context tokens")
    p.add_argument("--context-steps", type=_positive_int, help="with --predictor: the first K token time steps are the "
                   "context and the rest the target (default: half)")
    p.add_argument("--masks", type=Path, help="with --predictor: an .npz of token-id arrays 'context' and 'target'")
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser("surprise", help="score surprise of a video run on intuitive-physics pairs or clips",
                       description=(
        "Show the run's predictor the first half of each clip and measure how far its prediction of the rest "
        "lies from what the target encoder sees. Without --data: built-in quadruplets, two possible clips and "
        "two impossible ones made of their parts (a sprite that vanishes or appears, teleports, passes through "
        "a wall or bounces off nothing); reports how often the impossible pair is the more surprising "
        "(pairwise accuracy) and AUROC, for the trained model and its random init. With --data: surprise per "
        "clip and per time step."))
    p.add_argument("run", type=Path, help="video run folder")
    p.add_argument("--out", type=Path, required=True, help="output .json")
    p.add_argument("--data", type=Path, help="a folder of class folders of videos, or a list file, to score")
    p.add_argument("--quadruplets", type=_positive_int, default=150,
                   help="number of built-in quadruplets (default 150)")
    p.set_defaults(func=_cmd_surprise)

    p = sub.add_parser("energy", help="score pairs with a run's energy E(x, y, z) and free energy F = min_z E",
                       description=(
        "The energy of a pair under the run's predictor: the distance of its prediction of y's target features "
        "from x to what the target encoder sees in y (min over the latent z when the predictor has one: the free "
        "energy F). Image runs: X's left half predicts Y's right half; video runs: X's first half of time steps "
        "predicts Y's second half; world models: frame X and the actions taken (--actions, an .npy of (h, A)) "
        "predict frame Y. Without X and Y: F of held-out true pairs against shuffled ones (x of one sample, y of "
        "another), with AUROC and the energy gap, for the trained model and its random init."))
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("x", type=Path, nargs="?", help="the first file of a pair (image, video or frame)")
    p.add_argument("y", type=Path, nargs="?", help="the second file of a pair")
    p.add_argument("--actions", type=Path, help="world models: an .npy of the actions taken after X, (h, A)")
    p.add_argument("--pairs", type=_positive_int, default=500,
                   help="held-out true and shuffled pairs to score without X and Y (default 500)")
    p.add_argument("--out", type=Path, help="output .json")
    p.set_defaults(func=_cmd_energy)

    p = sub.add_parser("flow", help="write the optical flow of a video with an MC-JEPA run", description=(
        "Estimate the flow between each pair of consecutive frames of a video (resized and centre-cropped to the "
        "run's frame size) and save it as a float32 .npy of shape (pairs, 2, H, W): dx, dy in pixels, where "
        "each pixel of a frame goes in the next."))
    p.add_argument("run", type=Path, help="an mcjepa run folder")
    p.add_argument("clip", type=Path, help="a video file (.mp4, .avi, .webm, .mkv, .mov)")
    p.add_argument("--out", type=Path, required=True, help="output .npy (a new file)")
    p.add_argument("--frames", type=_positive_int, help="read only the first N frames (default: all)")
    p.add_argument("--png", type=Path, help="also draw the first flows (hue: direction, saturation: speed)")
    p.set_defaults(func=_cmd_flow)

    p = sub.add_parser("fill", help="guess the missing word of a sentence with a text JEPA run", description=(
        "Predict the embedding of the blank (a word of underscores) from the words around it and print the words "
        "whose embeddings lie nearest, with their cosine similarity."))
    p.add_argument("run", type=Path, help="a textjepa run folder")
    p.add_argument("sentence", help='a sentence with one blank, e.g. "the cat climbed up the ___"')
    p.add_argument("-k", type=_positive_int, default=5, help="words to print (default 5)")
    p.set_defaults(func=_cmd_fill)

    p = sub.add_parser("caption", help="the captions nearest to what a VL-JEPA run predicts for images",
                       description=(
        "Predict each image's caption embedding and print the captions whose text embeddings lie nearest, with their "
        "cosine; the captions come from the run's data, or from a text file with one caption per line."))
    p.add_argument("run", type=Path, help="a vljepa run folder")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("-k", type=_positive_int, default=5, help="captions to print per image (default 5)")
    p.add_argument("--captions", type=Path, help="a UTF-8 text file, one caption per line (default: the run's data)")
    p.set_defaults(func=_cmd_caption)

    p = sub.add_parser("fit-predictor", help="train a video run's predictor on the future, encoders frozen",
                       description=(
        "Copy a video run into --out with its predictor trained on the surprise task: from the first half of "
        "each clip, predict the frozen target encoder's features of the rest. The encoders are not changed. "
        "E.g. --data sprites_walls (every clip in a corridor) helps it learn that walls stop sprites."))
    p.add_argument("run", type=Path, help="video run folder (vjepa recipes)")
    p.add_argument("--out", type=Path, required=True, help="new run folder to write")
    p.add_argument("--steps", type=_positive_int, default=6000,
                   help="optimizer steps (default 6000: about 15 min for vjepa_tiny on 2 CPU cores)")
    p.add_argument("--data", help="clips to fit on: a built-in name or a video folder (default: the run's dataset)")
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="AdamW peak learning rate, cosine to 0 (default 1e-3)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="clips per step (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clip order (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fit_predictor)

    _world_parsers(sub)
    _use_parsers(sub)

    p = sub.add_parser("export-hf", help="export a run's encoder as an HF I-JEPA folder", description=(
        "Write config.json, model.safetensors and preprocessor_config.json that "
        "transformers.IJepaModel.from_pretrained reads."))
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p.add_argument("--encoder", choices=["target", "context"], help="which encoder (default: the run's eval choice)")
    p.set_defaults(func=_cmd_export_hf)

    p = sub.add_parser("bench", help="measure training-step throughput against the machine's peak", description=(
        "Time I-JEPA training steps (images/s, achieved GFLOP/s, peak memory) for ViT sizes and precisions, "
        "beside the matmul peak GFLOP/s of this machine measured in the same run."))
    p.add_argument("--sizes", nargs="+", help="ViT sizes (default: tiny small; with --video: tiny large)")
    p.add_argument("--video", action="store_true", help="time V-JEPA steps on clips instead of I-JEPA on images")
    p.add_argument("--world", action="store_true", help="time LeWorldModel training steps and CEM planning calls "
                                                        "(lewm_tworoom_tiny, 1 and 2 threads)")
    p.add_argument("--vs-reference", action="store_true",
                   help="time openjepa's I-JEPA step beside a re-implementation of the reference step on equal masks "
                        "(ViT-tiny, 64px, patch 8, batch 64) in interleaved rounds; prints the ratio of medians")
    p.add_argument("--rounds", type=_positive_int, default=5, help="interleaved rounds for --vs-reference (default 5)")
    p.add_argument("--json", type=Path, help="with --vs-reference: also write the figures to this JSON file")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--steps", type=_positive_int, default=5, help="timed steps per setting (default 5)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="batch size (default 64; use 2-4 for --video large on a CPU)")
    p.set_defaults(func=_cmd_bench)
    return parser


def _world_parsers(sub) -> None:
    p = sub.add_parser("collect", help="record trajectories in an environment", description=(
        "Run a policy in an environment and record frames, actions and states into a trajectory store "
        "(documented in openjepa.data.trajectories.store) that `openjepa train lewm_...` reads with --data."))
    p.add_argument("env", help="environment: tworoom, reach (built in), pusht or reacher (their pip extras)")
    p.add_argument("--episodes", type=_positive_int, required=True, help="number of episodes")
    p.add_argument("--policy", default="random", help="random, noisy_expert, expert or straight_line, or several comma-separated, "
                                                   "taken in turn per episode (default random)")
    p.add_argument("--out", type=Path, required=True, help="store folder to write")
    p.add_argument("--seed", type=int, default=0, help="episode e uses seed + e (default 0)")
    p.add_argument("--image-size", type=_positive_int, default=32, help="frame side in pixels (default 32)")
    p.add_argument("--max-steps", type=_positive_int, default=200, help="environment steps per episode at most (default 200)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store (only once the new one is complete)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("plan", help="plan toward goal images with a world-model run", description=(
        "Model-predictive control with the run's world model on seeded episodes whose start and goal lie in "
        "different rooms: success rate, mean steps and mean planning time per call, beside a random policy, "
        "the environment's expert and a straight-line-to-goal policy on the same episodes. Writes the report "
        "(default RUN/plan.json), RUN/plots/plan_episodes.png and RUN/plots/energy_landscape.png."))
    p.add_argument("run", type=Path, help="world-model run folder")
    p.add_argument("--env", help="environment (default: the run's method.plan.env)")
    p.add_argument("--planner", help="a registered planner: cem, mppi or grad (default: the run's method.plan.planner)")
    p.add_argument("--planner-args", help='planner settings as JSON, e.g. \'{"samples": 300, "iterations": 30}\'')
    p.add_argument("--horizon", type=_positive_int, help="plan horizon in model steps")
    p.add_argument("--execute", type=_positive_int, help="model steps executed per plan")
    p.add_argument("--cost", choices=["sum", "terminal"], help="latent distance summed over the horizon or at its end")
    p.add_argument("--latent", choices=["min", "mean"], help="a model with a latent z: each rolled step at the z "
                   "that brings it nearest the goal (min: the free energy) or averaged over z (mean)")
    p.add_argument("--max-steps", type=_positive_int, help="environment steps per episode")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="rollouts in fp32 or through a bfloat16 "
                   "copy of the model (faster on CPUs with native bf16; auto: bf16 where it is native)")
    p.add_argument("--threads", type=_positive_int, help="torch threads (on a busy 2-core machine one can beat two)")
    _episode_options(p, "RUN/plan.json")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("rollout", help="run a learned policy closed loop in an environment", description=(
        "Roll a policy run (actjepa) out on seeded episodes of the environment's planning tasks (TwoRoom: start "
        "and goal in different rooms): success rate and mean steps, beside a random policy and the environment's "
        "expert on the same episodes, and other policy runs given with --beside (e.g. the same recipe with "
        "method.latent_weight=0). Writes the report (default RUN/rollout.json) and RUN/plots/rollouts.png."))
    p.add_argument("run", type=Path, help="policy run folder")
    p.add_argument("--env", help="environment (default: the one the run's trajectory store was collected in)")
    p.add_argument("--beside", type=Path, nargs="*", default=[], metavar="RUN", help="other policy runs to roll out "
                                                                                   "on the same episodes")
    p.add_argument("--execute", type=_positive_int, help="actions executed per query, open loop (no temporal "
                                                          "ensembling)")
    ensemble = p.add_mutually_exclusive_group()
    ensemble.add_argument("--ensemble", type=float, help="temporal ensembling weight m (a query per step)")
    ensemble.add_argument("--no-ensemble", action="store_true", help="execute chunks open loop (see --execute)")
    p.add_argument("--max-steps", type=_positive_int, default=200, help="environment steps per episode (default 200)")
    _episode_options(p, "RUN/rollout.json")
    p.set_defaults(func=_cmd_rollout)


def _episode_options(p, report: str) -> None:
    """The options of commands that run seeded episodes and write a report: --episodes, --seed, --out, --quiet."""
    p.add_argument("--episodes", type=_positive_int, default=50, help="episodes (default 50)")
    p.add_argument("--seed", type=int, default=1000, help="episode e uses seed + e (default 1000)")
    p.add_argument("--out", type=Path, help=f"report file (default {report})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _use_parsers(sub) -> None:
    models = "openjepa run folder, or HF I-JEPA / V-JEPA 2 folder (transformers' save_pretrained)"
    p = sub.add_parser("classify", help="classify images or videos with a run's probe or an HF head", description=(
        "Print one line per input: PATH<TAB>CLASS<TAB>PROBABILITY. An openjepa run classifies with the probe that "
        "`openjepa eval RUN` fitted on its encoder and saved as RUN/eval.probe.safetensors: image runs with the "
        "linear probe on mean-pooled features, video runs with the attentive probe on the tokens of the centred "
        "clip of each video. An HF IJepaForImageClassification folder classifies with its own head (on the mean "
        "of the last hidden states, as transformers does); a folder without a head is refused."))
    p.add_argument("model", type=Path, help=models)
    p.add_argument("inputs", nargs="+", help="files of the run's kind of input (images, videos, sounds, meshes or "
                                             "point files, .txt files), or texts for a text run")
    p.add_argument("--probe", type=Path, help="another evaluation's probe file (e.g. RUN/evals/NAME.probe.safetensors)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="inputs per forward pass (default 256)")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("similarity", help="cosine similarity of two images, videos or texts", description=(
        "Print the cosine similarity (-1 to 1) of the mean-pooled features of two images, of the centred clips "
        "of two videos (as transformers' I-JEPA example computes it), or of two texts (.txt files, or the texts "
        "themselves, quoted) for a text run."))
    p.add_argument("model", type=Path, help=models)
    p.add_argument("a", help="image, video or .txt file, or a text")
    p.add_argument("b", help="image, video or .txt file, or a text")
    p.add_argument("--per-step", action="store_true", help="video: encode each time step of a clip on its own")
    p.set_defaults(func=_cmd_similarity)

    p = sub.add_parser("search", help="find the images or videos of a folder nearest to query files", description=(
        "Print the K files of FOLDER (and its subfolders) nearest to each query by cosine similarity of mean-pooled "
        "features, best first, as PATH<TAB>SCORE lines: images for image encoders, videos (the centred clip of "
        "each) for video encoders. With several queries each block of K lines follows a '# QUERY' line. The "
        "folder's features are cached in FOLDER/.openjepa-cache/, one index per model, re-encoding only files "
        "that changed (all of them when the model's weights changed); a folder that cannot be written to is "
        "searched without a cache."))
    p.add_argument("model", type=Path, help=models)
    p.add_argument("queries", nargs="+", type=Path, metavar="QUERY", help="image or video files to search for")
    p.add_argument("--in", dest="folder", type=Path, required=True, metavar="FOLDER", help="folder to search")
    p.add_argument("-k", type=_positive_int, default=5, help="results per query (default 5)")
    p.add_argument("--per-step", action="store_true", help="video: encode each time step of a clip on its own")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="inputs per forward pass (default 256)")
    p.set_defaults(func=_cmd_search)


def _cmd_classify(args) -> int:
    from openjepa.apps.classify import classify

    for path, (name, probability) in zip(args.inputs, classify(args.model, args.inputs, probe=args.probe,
                                                                batch_size=args.batch_size)):
        print(f"{path}\t{name}\t{probability:.4f}")
    return 0


def _cmd_similarity(args) -> int:
    from openjepa.apps.similarity import similarity

    print(f"{similarity(args.model, args.a, args.b, per_step=args.per_step):.6f}")
    return 0


def _cmd_search(args) -> int:
    from openjepa.apps.search import search

    found = search(args.model, args.queries, args.folder, k=args.k, per_step=args.per_step, batch_size=args.batch_size)
    for query, matches in zip(args.queries, found):
        if len(args.queries) > 1:
            print(f"# {query}")
        for path, score in matches:
            print(f"{path}\t{score:.6f}")
    return 0


def _json_object(text: str, flag: str) -> dict:
    """``text`` parsed as a JSON object, or a one-line ConfigError naming ``flag``."""
    from openjepa.core.errors import ConfigError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{flag} is not valid JSON ({err.msg} at character {err.pos}); expected an object such as "
                          f"'{{\"samples\": 300}}'") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a JSON object of settings such as '{{\"samples\": 300}}', got {text}")
    return value


def _positive(kind: type, what: str):
    """An argparse type: a ``kind`` (int or float) above 0, else an error naming ``what`` was expected."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
        return value

    return parse


_positive_int = _positive(int, "a positive integer")
_positive_float = _positive(float, "a positive number")


def main(argv: list[str] | None = None) -> None:
    """The ``openjepa`` command. A refused input exits 2 and a failure during the work exits 1, each with one line
    on stderr (the traceback only with ``--debug``, which may stand anywhere on the line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # key=value overrides may follow the options of `train`
        if args.command != "train" or any("=" not in e or e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.args += extra
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    from openjepa.core.errors import USER_ERRORS, WorkFailed

    try:
        code = args.func(args)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"openjepa: error: {_one_line(err)}", file=sys.stderr)
        code = 1 if isinstance(err, WorkFailed) else 2
    except KeyboardInterrupt as err:
        print(f"openjepa: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        code = 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            raise
        print(f"openjepa: failed: {type(err).__name__}: {_one_line(err)} (openjepa --debug ... shows where)",
              file=sys.stderr)
        code = 1
    sys.exit(code)


def _one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    text = str(err).strip() or type(err).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
