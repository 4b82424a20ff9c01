"""Trade-off curves: every method over its budget, judged at matched forgetting.

One stopping point says little: a method that stopped earlier forgot less and kept
more. A curve says more: each method runs its whole budget (no stop) at each
learning rate of a small grid, and every `every` steps the guard's check records
how much is forgotten (forget regurgitation, and forget quality against the
oracle) and how much is kept (retain regurgitation). Methods are then compared
at *matched forgetting*: the retain regurgitation each keeps where its forget
regurgitation first falls to a common level, such as the oracle's own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import checkpoints
from .config import with_overrides
from .data import documents, training_texts
from .evaluate import forget_regurgitation
from .guard import MONITOR_ITEMS
from .oracle import forget_quality
from .pipeline import Run, calibration, method_config
from .stages import stage as stage_row
from .textloss import document_losses
from .train import negative_finetune

COLUMNS = ["method", "lr", "step", "forget_regurgitation", "retain_regurgitation",
           "forget_quality", "forget_doc_loss"]


def tradeoff_curves(run: Run, methods, lrs, *, every: int = 5,
                    oracle_losses=None) -> pd.DataFrame:
    """Rows of COLUMNS: each method x learning rate at every `every` steps (step 0 on).

    Each method starts from its stage's predecessor (sequential: the stabilised
    model) with the profile's budget and blocks, and no stop rule. Regurgitation
    is measured on MONITOR_ITEMS forget and retain sc items; forget quality needs
    the oracle's forget-document losses (`oracle_losses`, e.g. the "member" list
    of mia-oracle.json), else it is NaN.
    """
    items, retain = run.benchmark["forget_train"], run.benchmark["retain_train"]
    docs = list(documents(items)["document"])
    eval_config = with_overrides(run.profile.eval, max_items=MONITOR_ITEMS)
    rows = []
    for method in methods:
        start = stage_row(method).after
        run.ready(start)
        for lr in lrs:
            model, tokenizer = checkpoints.load_stage(run.root, start, run.device)
            config = replace(method_config(run.profile, method), lr=lr,
                             stop_rule="steps", check_every=every,
                             stop_forget_loss=None)
            seen = []

            def monitor(current):
                losses = document_losses(current, tokenizer, docs,
                                         batch_size=config.batch_size)
                quality = (forget_quality(losses, oracle_losses)["forget_quality"]
                           if oracle_losses is not None else np.nan)
                seen.append({"retain_regurgitation": forget_regurgitation(
                    current, tokenizer, retain, eval_config),
                    "forget_quality": quality, "forget_doc_loss": losses.mean()})
                return forget_regurgitation(current, tokenizer, items, eval_config)

            result = negative_finetune(
                model, tokenizer, training_texts(items), training_texts(retain),
                config, monitor=monitor, seed=run.seed, progress=False,
                calibration=calibration(run, items, config))  # per-document ceiling
            rows += [{"method": method, "lr": lr, "step": check["step"],
                      "forget_regurgitation": check["regurgitation"], **extra}
                     for check, extra in zip(result.checks, seen)]
    return pd.DataFrame(rows, columns=COLUMNS)


def at_matched_forgetting(curves: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per method and lr: retain regurgitation where forget regurgitation first <= level.

    Linear interpolation between the two checks around the crossing; a curve that
    never reaches `level` within its budget has NaN (it did not forget that much).
    """
    rows = []
    for (method, lr), curve in curves.groupby(["method", "lr"], sort=False):
        forget = curve["forget_regurgitation"].to_numpy()
        keep = curve["retain_regurgitation"].to_numpy()
        below = np.flatnonzero(forget <= level)
        if not below.size:
            value, step = np.nan, np.nan
        elif below[0] == 0:
            value, step = keep[0], curve["step"].iloc[0]
        else:
            i = below[0]
            share = (forget[i - 1] - level) / (forget[i - 1] - forget[i])
            value = keep[i - 1] + share * (keep[i] - keep[i - 1])
            step = curve["step"].iloc[i]
        rows.append({"method": method, "lr": lr, "level": level,
                     "retain_regurgitation": value, "step": step})
    return pd.DataFrame(rows)
