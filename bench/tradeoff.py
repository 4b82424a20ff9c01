"""Trade-off curves: every method over a grid of budgets, compared at matched forgetting.

    .venv/bin/python bench/tradeoff.py                  # bundled data, offline profile
    .venv/bin/python bench/tradeoff.py --data semeval   # the quality study's SemEval unit
    .venv/bin/python bench/tradeoff.py --quick          # seconds: a smoke of the script

For one model and seed: the baseline, the oracle and the stabilised model (built
once, or reused from --runs), then every method, both controls and the method's
variants run their whole budget (no stop) at each learning rate of the grid,
checked every --every steps (companion.curves), and sequential once more for each
--trainable spec (which parameters the ascent moves). The oracle's forget
regurgitation is the matched-forgetting level: each curve's retain regurgitation
where it first forgets as much as exact unlearning does. Writes
bench/tradeoff-<data>.json and three figures beside it (methods and controls;
sequential and its variants; sequential moving other parameters).

--data semeval uses the whole SemEval-2025 public data with bench/quality.py's
profile and folder (runs/quality/semeval): the study's baseline, oracle and
stabilised model of that model and seed are reused, or built as the study builds
them. Its defaults: the study's learning rate and 60 steps, no extra --trainable.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from common import BENCH_DIR, PROJECT_ROOT, write_result

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from companion import plots  # noqa: E402
from companion.config import TrainConfig, UnlearnConfig, load_profile  # noqa: E402
from companion.curves import at_matched_forgetting, tradeoff_curves  # noqa: E402
from companion.data import load_general  # noqa: E402
from companion.oracle import read_oracle_losses  # noqa: E402
from companion.pipeline import make_run  # noqa: E402
from companion.study import stage_scores, study_run  # noqa: E402
from companion.stages import CONTROLS, METHOD_STAGES, VARIANTS  # noqa: E402
from companion.train import trainable_parameters  # noqa: E402


# which parameters the ascent moves, beside the profile's last:2 (FIELD: SemEval-2025
# teams restricted unlearning to chosen layers, one to early-layer MLPs)
BLOCK_CHOICES = ("first:2", r"h\.[23]\.mlp", r"h\.[23]\.attn", r"h\.[01]\.mlp")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny slice of the bundled data, seconds (whatever --data)")
    parser.add_argument("--data", choices=("bundled", "semeval"), default="bundled")
    parser.add_argument("--model", default="tiny-gpt2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lrs", nargs="+", type=float, default=None,
                        help="default 1e-4 2e-4 5e-4 (semeval: the study's, 5e-4)")
    parser.add_argument("--steps", type=int, default=None,
                        help="budget per curve (default 80; semeval 60)")
    parser.add_argument("--every", type=int, default=10, help="steps between checks")
    parser.add_argument("--methods", nargs="+",
                        default=[*METHOD_STAGES, *CONTROLS, *VARIANTS])
    parser.add_argument("--trainable", nargs="*", default=None,
                        help="extra sequential curves, one per spec of the blocks or "
                             "parameters that move (companion.train.trainable_"
                             f"parameters; default {' '.join(BLOCK_CHOICES)}, "
                             "--quick first:1, semeval none)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="stage folder, reused if it holds the stages already "
                             "(default runs/tradeoff; semeval: the study's runs/quality)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR,
                        help="where tradeoff-<data>.json and its figure go")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    semeval = args.data == "semeval" and not args.quick
    if semeval:
        import quality  # the study's profile, data and folder
        source = quality.data_source("semeval")
        if source is None:
            print(f"skipped: no SemEval-2025 parquet files in {quality.SEMEVAL_DIR}")
            return None
        study = quality.make_parser().parse_args([])
        profile = quality.study_profile("semeval", False, study)
        args.lrs = args.lrs or [study.unlearn_lr]
        args.steps = args.steps or study.unlearn_steps
        args.trainable = [] if args.trainable is None else args.trainable
    else:
        profile = load_profile("smoke" if args.quick else "offline", verbose=False)
    if args.quick:
        profile = replace(profile, finetune=TrainConfig(steps=20, batch_size=8, lr=2e-3),
                          stabilise=TrainConfig(steps=2, batch_size=4, lr=5e-4),
                          unlearn=UnlearnConfig(steps=4, batch_size=4, check_every=2))
        args.methods, args.lrs, args.every = ["sequential", "npo"], [5e-4], 2
        args.trainable = ["first:1"] if args.trainable is None else args.trainable
    args.lrs = args.lrs or [1e-4, 2e-4, 5e-4]
    args.steps = args.steps or 80
    if args.trainable is None:
        args.trainable = list(BLOCK_CHOICES)
    profile = replace(profile, unlearn=replace(profile.unlearn, steps=args.steps))
    if semeval:
        run = study_run(profile, args.model, args.seed, source,
                        (args.runs or PROJECT_ROOT / "runs" / "quality") / "semeval",
                        progress=False)
    else:
        out = (args.runs or PROJECT_ROOT / "runs" / "tradeoff") / (
            "quick" if args.quick else profile.name)
        run = make_run(profile, args.model, out=out, seed=args.seed, progress=False)
    start = time.perf_counter()
    oracle, _ = run.ensure("oracle")
    for spec in args.trainable:  # a spec that moves nothing fails now, not hours later
        trainable_parameters(oracle, spec)
    scored = stage_scores(run, "oracle", load_general())  # evaluated once, cached
    level, oracle_retain = scored.forget_regurgitation, scored.retain_regurgitation
    oracle_losses = read_oracle_losses(run.root)  # written by that evaluation
    curves = tradeoff_curves(run, args.methods, args.lrs, every=args.every,
                             oracle_losses=oracle_losses["member"])
    for spec in args.trainable:  # sequential again, moving other parameters
        moved = replace(run, profile=replace(profile, unlearn=replace(
            profile.unlearn, trainable=spec)))
        extra = tradeoff_curves(moved, ["sequential"], args.lrs, every=args.every,
                                oracle_losses=oracle_losses["member"])
        curves = pd.concat([curves, extra.assign(method=f"sequential [{spec}]")],
                           ignore_index=True)
    matched = at_matched_forgetting(curves, level)
    print(matched.round({"level": 3, "retain_regurgitation": 3}).to_string(index=False))
    name = "tradeoff-quick" if args.quick else f"tradeoff-{args.data}"
    figures = {name: [m for m in args.methods if m not in VARIANTS]}
    if args.trainable:  # the same ascent on other parameters
        figures[f"{name}-blocks"] = ["sequential",
                                     *(f"sequential [{s}]" for s in args.trainable)]
    if set(args.methods) & set(VARIANTS):  # the paper's form beside its variants and
        best = matched[matched["method"].isin(METHOD_STAGES[1:])].sort_values(
            "retain_regurgitation", ascending=False)["method"].head(1).tolist()
        figures[f"{name}-variants"] = ["sequential", *VARIANTS, *best]  # best baseline
    for figure, shown in figures.items():
        plots.tradeoff_curves(curves[curves["method"].isin(shown)],
                              oracle=(level, oracle_retain),
                              save=args.out_dir / f"{figure}.png")
    return write_result(args.out_dir / f"{name}.json", "tradeoff.py", argv, {
        "data": args.data, "model": args.model, "seed": args.seed, "lrs": args.lrs,
        "steps": args.steps,
        "trainable": {"profile": profile.unlearn.trainable, "extra": args.trainable},
        "every": args.every, "figures": [f"bench/{f}.png" for f in figures],
        "oracle": {"forget_regurgitation": level, "retain_regurgitation": oracle_retain},
        "wall_seconds": round(time.perf_counter() - start, 1),
        "matched": json.loads(matched.to_json(orient="records")),
        "curves": json.loads(curves.to_json(orient="records"))})


if __name__ == "__main__":
    main()
