"""Judging unlearning against exact unlearning: the oracle (retain model) as the reference.

Exact unlearning is retraining without the forget set; the course can afford it
(stage `oracle`: the baseline's recipe, seed and steps on everything but the
forget set). An approximate method has worked when its model cannot be told
apart from the oracle on the forget documents: not when their loss is as high
as possible (over-unlearning is as visible to an attacker as no unlearning).

The terms, each comparing a model with the oracle on the same documents:

    forget_quality   p-value of a two-sample Kolmogorov-Smirnov test
                     (scipy.stats.ks_2samp) between the per-document losses of the
                     forget documents under the model and under the oracle; high =
                     indistinguishable. TOFU (Maini et al. 2024, arXiv 2401.06121,
                     section 2.5) tests the truth ratio of question items, which
                     needs paraphrased and perturbed answers this benchmark lacks;
                     the document loss is the official MIA statistic, defined for
                     every forget document of the bundled and the SemEval data.
    ks_statistic     the KS distance D behind that p-value (0 = same distribution)
    mia_auc_gap      MIA AUC minus the oracle's (same members and non-members)
    privleak         MUSE's relative form (Shi et al. 2024, arXiv 2407.06460,
                     section 3): (AUC' - AUC'_oracle) / AUC'_oracle with MUSE's
                     orientation AUC' = 1 - AUC. About 0 is ideal; strongly
                     negative = under-unlearning (the model still gives the
                     documents away), strongly positive = over-unlearning
    forget_loss_gap  mean forget-document loss minus the oracle's (nats/token)

The noise floor of forget quality is the same test between two oracles trained
with different seeds: a method cannot be asked to be closer than that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

from .config import CourseError
from .membership import mia_score

TERMS = ("forget_quality", "ks_statistic", "mia_auc_gap", "privleak", "forget_loss_gap")


def forget_quality(losses, oracle_losses) -> dict:
    """KS test of two samples of per-document losses: {"forget_quality", "ks_statistic"}.

    losses, oracle_losses: 1-D, one mean token loss per forget document (nats).
    forget_quality is the p-value (1 for identical samples).
    """
    a, b = np.asarray(losses, dtype=float), np.asarray(oracle_losses, dtype=float)
    if a.size == 0 or b.size == 0:
        raise CourseError("forget quality needs forget-document losses under both "
                          "models: the forget set has no documents (sc items)")
    test = ks_2samp(a, b)
    return {"forget_quality": float(test.pvalue), "ks_statistic": float(test.statistic)}


def privleak(auc: float, oracle_auc: float) -> float:
    """MUSE's PrivLeak from two MIA AUCs in the course's orientation (members = 1)."""
    flipped, reference = 1.0 - auc, 1.0 - oracle_auc
    if reference == 0:
        return math.nan  # the oracle itself gives its non-members away: undefined
    return (flipped - reference) / reference


def oracle_terms(losses: dict, oracle_losses: dict) -> dict:
    """Every oracle-relative term of a model, from both models' MIA document losses.

    losses, oracle_losses: {"member": [...], "nonmember": [...]}, per-document
    losses of forget_train (members) and forget_validation (non-members), as
    membership.membership returns them and mia-<stage>.json stores them.
    """
    if len(losses["member"]) != len(oracle_losses["member"]) or len(
            losses["nonmember"]) != len(oracle_losses["nonmember"]):
        raise CourseError("the oracle was evaluated on other documents: evaluate the "
                          "oracle with the same data and profile")
    mia = mia_score(losses["member"], losses["nonmember"])
    reference = mia_score(oracle_losses["member"], oracle_losses["nonmember"])
    return {**forget_quality(losses["member"], oracle_losses["member"]),
            "mia_auc_gap": mia["auc"] - reference["auc"],
            "privleak": privleak(mia["auc"], reference["auc"]),
            "forget_loss_gap": mia["member_loss"] - reference["member_loss"],
            "oracle_mia_auc": reference["auc"]}


def read_oracle_losses(folder) -> dict | None:
    """The oracle's MIA document losses saved in a run folder (mia-oracle.json), or None."""
    path = Path(folder) / "mia-oracle.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def missing(reason: str) -> dict:
    """The oracle-relative terms of a report when there is no oracle: None, and why."""
    return {**{term: None for term in TERMS}, "oracle_mia_auc": None,
            "oracle_missing": reason}


def relative_terms(stage: str, losses: dict, oracle: dict | None, folder=None) -> dict:
    """Oracle-relative terms of an evaluated stage (the oracle compared with itself).

    oracle: the oracle's MIA losses; by default read from `folder`'s mia-oracle.json.
    """
    if oracle is None and stage == "oracle":
        oracle = losses
    if oracle is None and folder is not None:
        oracle = read_oracle_losses(folder)
    if oracle is None:
        return missing("no oracle in this run folder: build and evaluate it first "
                       "(`python -m companion pipeline` without --no-oracle)")
    return oracle_terms(losses, oracle)
