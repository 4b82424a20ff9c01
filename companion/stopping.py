"""Stopping rules compared: the same unlearning stopped by each rule, judged by the oracle.

When should negative fine-tuning stop? companion.guard implements the rules; this
module runs one stage once per rule from the same starting checkpoint, with the
same seed and budget, and scores each result the official way plus against the
oracle (companion.oracle), so a lesson can show which rule leaves the model
nearest exact unlearning. Nothing is saved: the variants live in memory only, and
the profile's own rule reads the saved stage when one made with today's settings
is there (the run it would repeat).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from .checkpoints import has_stage, load_stage, read_settings, stale_reasons
from .data import load_general
from .evaluate import evaluate_model
from .membership import membership
from .oracle import read_oracle_losses
from .pipeline import Run, stage_settings, unlearn_stage
from .stages import stage as stage_row

COLUMNS = ["rule", "steps", "stopped", "forget_regurgitation", "retain_regurgitation",
           "utility", "mia_auc", "oracle_mia_auc", "mia_auc_gap", "forget_quality",
           "forget_loss_gap", "final_score"]


def compare_stop_rules(run: Run, rules=("regurgitation", "held_out"),
                       stage: str = "sequential") -> pd.DataFrame:
    """One row per rule: `stage` stopped by that rule, then scored (COLUMNS).

    The profile's own rule is the saved stage itself when it is there and made
    with today's settings (on a CPU bit for bit the weights a rebuild gives:
    tests/test_oracle.py), so it is not trained twice; every other rule, and the
    own rule without such a stage, rebuilds the stage in memory. The oracle's
    document losses come from run.root's mia-oracle.json (as study.run_study and
    the pipeline leave it), else from the oracle itself (built if missing); so is
    the stage's predecessor. Each rule gets the profile's budget and the stage's
    seed.
    """
    oracle = read_oracle_losses(run.root)
    if oracle is None:  # not evaluated yet: its document losses are all we need
        model, tokenizer = run.ensure("oracle")
        oracle = membership(model, tokenizer, run.benchmark,
                            run.profile.eval.batch_size)[1]
    row = stage_row(stage)
    run.ensure(row.after)
    rows, general = [], load_general()
    for rule in rules:
        saved = _saved(run, stage) if rule == run.profile.unlearn.stop_rule else None
        if saved is not None:
            model, tokenizer = load_stage(run.root, stage, run.device)
            ended = saved["result"]
        else:
            unlearn = replace(run.profile.unlearn, stop_rule=rule)
            variant = replace(run, profile=replace(run.profile, unlearn=unlearn),
                              progress=False)
            model, tokenizer, _, result = unlearn_stage(variant, row)
            ended = {"steps": result.steps, "stopped": result.stopped}
        scores = evaluate_model(model, tokenizer, run.benchmark, run.profile.eval,
                                stage=f"{stage} ({rule})", general=general,
                                oracle=oracle, progress=False).flat()
        rows.append({"rule": rule, "steps": ended["steps"], "stopped": ended["stopped"],
                     **{c: scores.get(c) for c in COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=COLUMNS)


def _saved(run: Run, stage: str) -> dict | None:
    """The settings of `stage` saved in run.root, if made as it would be built now."""
    if not has_stage(run.root, stage):
        return None
    saved = read_settings(run.root, stage)
    return None if stale_reasons(saved, stage_settings(run, stage), run.root) else saved
