"""Stop rules compared: sequential unlearning stopped by each rule, judged by the oracle.

    .venv/bin/python bench/stop_rules.py                 # bundled data, offline profile
    .venv/bin/python bench/stop_rules.py --quick         # seconds: a smoke of the script

For one model and seed, companion.stopping.compare_stop_rules runs the sequential
stage once per rule (regurgitation, held_out, oracle) from the same stabilised
model, seed and budget (the profile's own rule reads the saved stage when one made
with these settings is there), and scores each the official way plus against the
oracle.
The baseline and the oracle are scored too, as references. Writes
bench/stop-rules-<data>.json; the answer decides the profiles' default rule.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from common import BENCH_DIR, PROJECT_ROOT, write_result

import torch  # noqa: E402

from companion.config import TrainConfig, UnlearnConfig, load_profile  # noqa: E402
from companion.data import load_general  # noqa: E402
from companion.evaluate import evaluate_model  # noqa: E402
from companion.membership import membership  # noqa: E402
from companion.pipeline import make_run  # noqa: E402
from companion.stopping import COLUMNS, compare_stop_rules  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny slice, seconds")
    parser.add_argument("--model", default="tiny-gpt2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200, help="budget of each rule")
    parser.add_argument("--rules", nargs="+", default=["regurgitation", "held_out",
                                                       "oracle"])
    parser.add_argument("--runs", type=Path, default=PROJECT_ROOT / "runs" / "tradeoff",
                        help="stage folder (shared with bench/tradeoff.py)")
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = load_profile("smoke" if args.quick else "offline", verbose=False)
    if args.quick:
        profile = replace(profile, finetune=TrainConfig(steps=20, batch_size=8, lr=2e-3),
                          stabilise=TrainConfig(steps=2, batch_size=4, lr=5e-4),
                          unlearn=UnlearnConfig(steps=4, batch_size=4, check_every=2))
    profile = replace(profile, unlearn=replace(profile.unlearn, steps=args.steps))
    out = args.runs / ("quick" if args.quick else profile.name)
    run = make_run(profile, args.model, out=out, seed=args.seed, progress=False)
    start = time.perf_counter()
    general, references = load_general(), {}
    oracle_losses = None
    for stage in ("oracle", "baseline"):
        model, tokenizer = run.ensure(stage)
        losses = membership(model, tokenizer, run.benchmark,
                            profile.eval.batch_size)[1]
        oracle_losses = oracle_losses or losses
        scores = evaluate_model(model, tokenizer, run.benchmark, profile.eval,
                                stage=stage, general=general, oracle=oracle_losses,
                                progress=False).flat()
        references[stage] = {c: scores.get(c) for c in COLUMNS[3:]}
    rules = compare_stop_rules(run, rules=tuple(args.rules))
    print(rules.drop(columns="stopped").round(3).to_string(index=False))
    name = "stop-rules-quick" if args.quick else "stop-rules-bundled"
    return write_result(args.out_dir / f"{name}.json", "stop_rules.py", argv, {
        "model": args.model, "seed": args.seed, "steps": args.steps,
        "unlearn": vars(profile.unlearn), "references": references,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "rules": json.loads(rules.to_json(orient="records"))})


if __name__ == "__main__":
    main()
