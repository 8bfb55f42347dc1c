"""``openjepa collect`` and ``openjepa plan``: the world-model commands."""

from __future__ import annotations

import json
from pathlib import Path


def _cmd_collect(args) -> int:
    from openjepa.runconfig import recipe_files
    from openjepa.world.collect import collect

    store = collect(args.env, args.episodes, args.policy, args.out, seed=args.seed, image_size=args.image_size,
                    max_steps=args.max_steps, overwrite=args.overwrite, progress=not args.quiet)
    recipe = f"lewm_{args.env}_tiny" if f"lewm_{args.env}_tiny" in recipe_files() else "lewm_tworoom_tiny"
    print(f"wrote {args.out}: {store.num_episodes} episodes, {store.num_steps} frames "
          f"(train with: openjepa train {recipe} --data {args.out} --out RUN)")
    return 0


def _cmd_plan(args) -> int:
    from openjepa.world.evaluate import plan_run

    overrides = {}
    for key in ("horizon", "execute", "max_steps", "cost"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.planner_args:
        overrides["planner_args"] = json.loads(args.planner_args)
    report = plan_run(args.run, env=args.env, episodes=args.episodes, planner=args.planner, out=args.out,
                      seed=args.seed, threads=args.threads, overrides=overrides, progress=not args.quiet)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))
    return 0


def add_world_commands(sub) -> None:
    p = sub.add_parser("collect", help="record trajectories in an environment", description=(
        "Run a policy in an environment and record frames, actions and states into a trajectory store "
        "(documented in openjepa.world.store) that `openjepa train lewm_...` reads with --data."))
    p.add_argument("env", help="environment: tworoom or reach")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes")
    p.add_argument("--policy", default="random", help="random, noisy_expert, expert or straight_line, or several comma-separated, "
                                                   "taken in turn per episode (default random)")
    p.add_argument("--out", type=Path, required=True, help="store folder to write")
    p.add_argument("--seed", type=int, default=0, help="episode e uses seed + e (default 0)")
    p.add_argument("--image-size", type=int, default=32, help="frame side in pixels (default 32)")
    p.add_argument("--max-steps", type=int, default=200, help="environment steps per episode at most (default 200)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store (only once the new one is complete)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("plan", help="plan toward goal images with a world-model run", description=(
        "Model-predictive control with the run's world model on seeded episodes whose start and goal lie in "
        "different rooms: success rate, mean steps and mean planning time per call, beside a random policy, "
        "the environment's expert and a straight-line-to-goal policy on the same episodes. Writes the report "
        "(default RUN/plan.json), RUN/plots/plan_episodes.png and RUN/plots/energy_landscape.png."))
    p.add_argument("run", type=Path, help="world-model run folder")
    p.add_argument("--env", help="environment (default: the run's plan.env)")
    p.add_argument("--episodes", type=int, default=50, help="episodes (default 50)")
    p.add_argument("--planner", choices=["cem", "mppi", "grad"], help="planner (default: the run's plan.planner)")
    p.add_argument("--planner-args", help='planner settings as JSON, e.g. \'{"samples": 300, "iterations": 30}\'')
    p.add_argument("--horizon", type=int, help="plan horizon in model steps")
    p.add_argument("--execute", type=int, help="model steps executed per plan")
    p.add_argument("--cost", choices=["sum", "terminal"], help="latent distance summed over the horizon or at its end")
    p.add_argument("--max-steps", type=int, help="environment steps per episode")
    p.add_argument("--seed", type=int, default=1000, help="episode e uses seed + e (default 1000)")
    p.add_argument("--threads", type=int, help="torch threads (on a busy 2-core machine one can beat two)")
    p.add_argument("--out", type=Path, help="report file (default RUN/plan.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_plan)
