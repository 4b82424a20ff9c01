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

import pandas as pd

from .data import load_general
from .evaluate import evaluate_model
from .membership import membership
from .oracle import read_oracle_losses
from .pipeline import Run, unlearn_variant

COLUMNS = ["rule", "steps", "stopped", "forget_regurgitation", "retain_regurgitation",
           "utility", "mia_auc", "oracle_mia_auc", "mia_auc_gap", "forget_quality",
           "forget_loss_gap", "final_score"]


def compare_stop_rules(run: Run, rules=("regurgitation", "held_out"),
                       stage: str = "sequential") -> pd.DataFrame:
    """One row per rule: `stage` stopped by that rule, then scored (COLUMNS).

    Each rule is pipeline.unlearn_variant: the profile's own rule is the saved
    stage itself when it is there and made with today's settings, so it is not
    trained twice; every other rule, and the own rule without such a stage,
    rebuilds the stage in memory (the stage's predecessor built if missing). The
    oracle's document losses come from run.root's mia-oracle.json (as
    study.run_study and the pipeline leave it), else from the oracle itself (built
    if missing). Each rule gets the profile's budget and the stage's seed.
    """
    oracle = read_oracle_losses(run.root)
    if oracle is None:  # not evaluated yet: its document losses are all we need
        model, tokenizer = run.ensure("oracle")
        oracle = membership(model, tokenizer, run.benchmark,
                            run.profile.eval.batch_size)[1]
    rows, general = [], load_general()
    for rule in rules:
        model, tokenizer, ended = unlearn_variant(run, stage, stop_rule=rule)
        scores = evaluate_model(model, tokenizer, run.benchmark, run.profile.eval,
                                stage=f"{stage} ({rule})", general=general,
                                oracle=oracle, progress=False).flat()
        rows.append({"rule": rule, "steps": ended["steps"], "stopped": ended["stopped"],
                     **{c: scores.get(c) for c in COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=COLUMNS)
