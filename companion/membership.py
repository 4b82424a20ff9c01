"""Membership inference and fluency, both from teacher-forced document losses.

The official MIA statistic is a document's mean token loss. Forgotten documents
(members: forget_train) are compared with documents the model never saw
(non-members: forget_validation) by the AUC of telling them apart from the loss;
the MIA score 1 - 2|AUC - 0.5| is 1 when the two look alike, as after a perfect
erasure, and 0 when the model still gives the forgotten documents away (or pushed
their loss far above the never-seen ones). Perplexity of held-out general text
measures fluency from the same sums.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, roc_curve

from . import data as course_data
from . import textloss
from .textloss import document_losses  # noqa: F401  (the MIA statistic, importable here too)
from .config import CourseError


def _require_mia_sets(members, nonmembers) -> None:
    if len(members) == 0 or len(nonmembers) == 0:
        raise CourseError("MIA needs member and non-member documents: both sets must "
                          "be non-empty (members = forget_train, non-members = "
                          "forget_validation; a document is its sc1 item)")


def mia_score(member_losses, nonmember_losses) -> dict:
    """AUC of telling members (label 1, score -loss) from non-members; 1-2|AUC-0.5|."""
    member, nonmember = np.asarray(member_losses), np.asarray(nonmember_losses)
    _require_mia_sets(member, nonmember)
    labels = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    fpr, tpr, _ = roc_curve(labels, -np.r_[member, nonmember])
    area = float(auc(fpr, tpr))
    return {"auc": area, "score": 1.0 - 2.0 * abs(area - 0.5),
            "member_loss": float(member.mean()),
            "nonmember_loss": float(nonmember.mean()),
            "n_member": len(member), "n_nonmember": len(nonmember)}


def perplexity(model, tokenizer, texts: list[str], batch_size: int = 8) -> float:
    """Token-weighted perplexity: exp(total NLL / total tokens) over all texts."""
    return float(np.exp(textloss.mean_loss(model, tokenizer, texts,
                                           batch_size=batch_size)))


def membership(model, tokenizer, benchmark, batch_size: int) -> tuple[dict, dict]:
    """MIA terms and the document losses of forget_train (members) vs forget_validation.

    Document losses come from the one text-loss path (companion.textloss: EOS
    appended, cut to the model's context), the quantity training reports too.
    """
    members, nonmembers = course_data.mia_sets(benchmark)
    if len(members) == 0 or len(nonmembers) == 0:
        mia_score([], [])  # raises the one-line explanation
    losses = {name: textloss.document_losses(model, tokenizer, docs["document"],
                                             batch_size=batch_size).tolist()
              for name, docs in (("member", members), ("nonmember", nonmembers))}
    return mia_score(losses["member"], losses["nonmember"]), losses
