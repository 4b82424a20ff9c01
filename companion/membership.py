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
import torch
from sklearn.metrics import auc, roc_curve

from . import data as course_data
from .config import CourseError
from .generation import (context_length, eval_mode, length_batches, padding_side,
                         token_ids)
from .methods import sequence_nll


def nll_sums(model, tokenizer, texts: list[str], batch_size: int):
    """Per text: summed next-token NLL (teacher-forced) and the number of tokens."""
    ids = token_ids(tokenizer, texts, context_length(model, tokenizer), "start", 2)
    sums, counts = np.zeros(len(ids)), np.zeros(len(ids), dtype=np.int64)
    device = next(model.parameters()).device
    with torch.no_grad(), eval_mode(model), padding_side(tokenizer, "right"):
        for index in length_batches(ids, batch_size):
            batch = tokenizer.pad({"input_ids": [ids[i] for i in index]},
                                  return_tensors="pt").to(device)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            nll, n = sequence_nll(model, {**batch, "labels": labels})  # (batch,) each
            sums[index], counts[index] = nll.cpu().numpy(), n.cpu().numpy()
    return sums, counts


def document_losses(model, tokenizer, texts: list[str],
                    batch_size: int = 8) -> np.ndarray:
    """Mean token NLL of each document (the official MIA statistic)."""
    sums, counts = nll_sums(model, tokenizer, texts, batch_size)
    return sums / counts


def mia_score(member_losses, nonmember_losses) -> dict:
    """AUC of telling members (label 1, score -loss) from non-members; 1-2|AUC-0.5|."""
    member, nonmember = np.asarray(member_losses), np.asarray(nonmember_losses)
    if len(member) == 0 or len(nonmember) == 0:
        raise CourseError("MIA needs member and non-member documents: both sets must "
                          "be non-empty (members = forget_train, non-members = "
                          "forget_validation)")
    labels = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    fpr, tpr, _ = roc_curve(labels, -np.r_[member, nonmember])
    area = float(auc(fpr, tpr))
    return {"auc": area, "score": 1.0 - 2.0 * abs(area - 0.5),
            "member_loss": float(member.mean()),
            "nonmember_loss": float(nonmember.mean()),
            "n_member": len(member), "n_nonmember": len(nonmember)}


def perplexity(model, tokenizer, texts: list[str], batch_size: int = 8) -> float:
    """Token-weighted perplexity: exp(total NLL / total tokens) over all texts."""
    sums, counts = nll_sums(model, tokenizer, texts, batch_size)
    return float(np.exp(sums.sum() / counts.sum()))


def membership(model, tokenizer, benchmark, batch_size: int) -> tuple[dict, dict]:
    """MIA terms and the document losses of forget_train (members) vs forget_validation."""
    members, nonmembers = course_data.mia_sets(benchmark)
    losses = {"member": document_losses(model, tokenizer, members["document"],
                                        batch_size).tolist(),
              "nonmember": document_losses(model, tokenizer, nonmembers["document"],
                                           batch_size).tolist()}
    return mia_score(losses["member"], losses["nonmember"]), losses
