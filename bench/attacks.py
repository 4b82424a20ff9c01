"""Attacks per method: how much of the forget set comes back, beyond the oracle.

    .venv/bin/python bench/attacks.py                   # smoke profile (minutes)
    .venv/bin/python bench/attacks.py --profile offline

For every unlearning stage of the pipeline (sequential and the baselines) and the
oracle: the stronger membership attacks (companion.attacks), 8/4-bit quantisation
(companion.quantise), the relearning attack on forget and on retain
(companion.relearning) and the collapse detector (companion.collapse), summarised
by companion.robustness.beyond_oracle. Stages are built if missing (runs/<profile>).
Writes bench/attacks-<profile>.json and prints the table as markdown.
"""

from __future__ import annotations

import argparse
import time

from common import BENCH_DIR, write_result

import pandas as pd  # noqa: E402

from companion import (attacks, collapse, quantise, relearning,  # noqa: E402
                       robustness)
from companion.config import load_profile  # noqa: E402
from companion.data import load_benchmark, load_general  # noqa: E402
from companion.pipeline import ensure_stage  # noqa: E402
from companion.stages import METHOD_STAGES  # noqa: E402


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency)."""
    lines = ["| attack | " + " | ".join(table.columns) + " |",
             "| --- |" + " ---: |" * len(table.columns)]
    lines += [f"| {index} | " + " | ".join(f"{v:+.3f}" for v in row) + " |"
              for index, row in table.iterrows()]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    args = parser.parse_args(argv)
    profile, start = load_profile(args.profile), time.perf_counter()
    benchmark = load_benchmark(profile.data, profile.max_docs_per_task)
    names = list(METHOD_STAGES)  # sequential and the baseline methods
    models = {}
    for stage in [*names, "oracle"]:
        models[stage], tokenizer = ensure_stage(profile, stage, progress=False)
    reference, _ = ensure_stage(profile, "oracle", seed=1, progress=False)
    aucs = attacks.attack_table(models, tokenizer, benchmark, reference,
                                profile.attack.min_k, profile.eval.batch_size)
    quantised = pd.concat({name: quantise.quantised_scores(
        model, tokenizer, benchmark, profile.attack.bits, profile.eval)
        for name, model in models.items()}, names=["model"])
    curves = relearning.relearning_curves(models, tokenizer, benchmark, profile.attack,
                                          profile.eval)
    closing = robustness.beyond_oracle(attacks.over_oracle(aucs), quantised,
                                       relearning.recovered(curves), names,
                                       profile.attack.bits)
    general = load_general()
    prompts = {"forget": list(benchmark["forget_train"]["input"]),
               "general": list(general["probe"]["input"])}
    degeneration = collapse.collapse_report(models, tokenizer, prompts,
                                            list(general["heldout"]["text"]),
                                            profile.attack, profile.eval.max_new_tokens)
    collapsed = degeneration.groupby("model")["collapsed"].max()
    closing.loc["collapsed share (max over prompt sets)"] = collapsed[names]
    print(markdown(closing.round(3)))
    return write_result(BENCH_DIR / f"attacks-{profile.name}.json", "attacks.py", argv, {
        "profile": profile.name, "model": profile.model,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "auc": aucs.round(4).to_dict(), "beyond_oracle": closing.round(4).to_dict()})


if __name__ == "__main__":
    main()
