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


def auc_by_task(member_losses, nonmember_losses, member_tasks,
                nonmember_tasks) -> dict[str, float]:
    """The MIA AUC within each task: {task: AUC}, for tasks with both kinds of document.

    The official AUC pools every document, so a task whose documents are easy to
    predict (SemEval's short synthetic biographies) can have never-seen documents
    with a lower loss than the memorised documents of a harder task (creative
    writing, Wikipedia): a model that memorised every task then scores a pooled
    AUC well below 1, because the attack's threshold is one for all. Within one
    task the documents are alike, so each task's AUC says how far that task was
    memorised (a stratified form of difficulty calibration: Watson et al. 2022,
    arXiv 2111.08440). Tasks: one label per loss; raises CourseError otherwise.
    """
    member, nonmember = np.asarray(member_losses), np.asarray(nonmember_losses)
    member_tasks, nonmember_tasks = np.asarray(member_tasks), np.asarray(nonmember_tasks)
    if member_tasks.ndim != 1 or nonmember_tasks.ndim != 1 or \
            len(member_tasks) != len(member) or len(nonmember_tasks) != len(nonmember):
        raise CourseError("auc_by_task needs one task label per document loss")
    shared = sorted(set(member_tasks) & set(nonmember_tasks))
    return {str(t): mia_score(member[member_tasks == t],
                              nonmember[nonmember_tasks == t])["auc"] for t in shared}


def perplexity(model, tokenizer, texts: list[str], batch_size: int = 8) -> float:
    """Token-weighted perplexity: exp(total NLL / total tokens) over all texts."""
    return float(np.exp(textloss.mean_loss(model, tokenizer, texts,
                                           batch_size=batch_size)))


def membership(model, tokenizer, benchmark, batch_size: int) -> tuple[dict, dict]:
    """MIA terms and the document losses of forget_train (members) vs forget_validation.

    Document losses come from the one text-loss path (companion.textloss: EOS
    appended, cut to the model's context), the quantity training reports too.
    """
    members, nonmembers = course_data.mia_sets(benchmark, ("id", "task", "document"))
    if len(members) == 0 or len(nonmembers) == 0:
        mia_score([], [])  # raises the one-line explanation
    losses = {name: textloss.document_losses(model, tokenizer, docs["document"],
                                             batch_size=batch_size).tolist()
              for name, docs in (("member", members), ("nonmember", nonmembers))}
    mia = mia_score(losses["member"], losses["nonmember"])
    by_task = auc_by_task(losses["member"], losses["nonmember"], members["task"],
                          nonmembers["task"])
    mia["auc_by_task"] = by_task  # beside the official pooled AUC, not instead
    mia["auc_lowest_task"] = min(by_task.values()) if by_task else None
    return mia, losses
