"""Stronger membership inference: attacks beside the official LOSS attack.

The official MIA (companion.membership.mia_score) compares each document's mean
token loss. Published attacks read more out of the same teacher-forced pass:

    loss        -mean token NLL                           (Yeom et al. 2018)
    min_k       mean log-prob of the k% least likely tokens (Shi et al. 2023)
    min_k_pp    the same on log-probs standardised by the next-token
                distribution's own mean and spread          (Zhang et al. 2024)
    zlib        -(mean token NLL / zlib-compressed bytes)   (Carlini et al. 2021)
    reference   reference model's loss - the model's loss   (Carlini et al. 2021)

Every statistic here is oriented so that *higher means member*; `attack_auc`
is then the AUC of telling members (forget_train documents) from non-members
(forget_validation documents). 0.5 is chance. An attack counts only by how much
further from 0.5 it gets on an unlearned model than on the oracle, which never
saw either set. The reference attack needs a second model that never saw the
forget set: notebook 07 uses the smaller preset's oracle, as Carlini et al. used a
smaller model of the same family (the oracle against itself gives 0.5 by construction).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from . import data as course_data
from .config import CourseError
from . import textloss
from .generation import length_batches

ATTACKS = ("loss", "min_k", "min_k_pp", "zlib", "reference")


@dataclass
class TokenStats:
    """Teacher-forced statistics of one text's tokens (all arrays of shape (n,)).

    logp: log p(x_t | x_<t) of each actual next token (nats);
    mean, std: mean and standard deviation of log p(z | x_<t) over the vocabulary,
    z drawn from the model's own next-token distribution (Min-K%++'s mu and sigma).
    """

    logp: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def token_stats(model, tokenizer, texts: list[str], batch_size: int = 8):
    """TokenStats of each text, tokenised and scored as companion.textloss does.

    The same tokens as the official MIA's document loss (EOS appended, cut to the
    model's context), so -mean(logp) is that loss. One forward pass per batch; the
    (batch, seq, vocab) log-softmax is reduced on the spot.
    """
    texts = list(texts)
    rows = textloss.encode(tokenizer, texts, textloss.context_length(model, tokenizer))
    out: list[TokenStats | None] = [None] * len(rows)
    device = next(model.parameters()).device
    with textloss.scoring(model):
        for index in length_batches(rows, batch_size):
            batch = textloss.collate([rows[i] for i in index],
                                     textloss.padding_id(tokenizer))
            batch = {k: v.to(device) for k, v in batch.items()}
            logp_all = F.log_softmax(textloss.logits_of(model, batch), dim=-1)
            labels = textloss.next_token_labels(batch["labels"])  # (batch, seq)
            logp = logp_all.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
            p = logp_all.exp()
            mean = (p * logp_all).sum(-1)  # (batch, seq)
            std = ((p * logp_all ** 2).sum(-1) - mean ** 2).clamp(min=0).sqrt()
            for row, i in enumerate(index):
                scored = labels[row] != -100  # the text's own next tokens
                out[i] = TokenStats(*(t[row][scored].cpu().numpy()
                                      for t in (logp, mean, std)))
    return out


def _lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the ceil(k * n) smallest values (at least one)."""
    if not 0 < k <= 1:
        raise CourseError(f"k={k} must be a share in (0, 1]: e.g. 0.2 for Min-20%")
    values = np.sort(np.asarray(values, dtype=float))
    return float(values[: max(1, int(np.ceil(k * len(values))))].mean())


def min_k_score(logp, k: float = 0.2) -> float:
    """Min-K% Prob (Shi et al. 2023, arXiv 2310.16789, Sec. 3): higher = member.

    The mean log-probability (nats) of the k share of tokens the model finds least
    likely. A seen text has few surprising tokens, so even its worst ones score high.
    logp: (n,) log p(x_t | x_<t) of one text.
    """
    return _lowest_mean(logp, k)


def min_k_plus_plus_score(logp, mean, std, k: float = 0.2) -> float:
    """Min-K%++ (Zhang et al. 2024, arXiv 2404.02936, Eq. 2): higher = member.

    Each token's log-prob is standardised by its next-token distribution,
    (log p(x_t) - mu_t) / sigma_t with mu_t = E_z[log p(z)], sigma_t its std: a
    token the model ranks as a local maximum of its distribution scores high.
    The mean over the k share of lowest scores. All arrays (n,).
    """
    z = (np.asarray(logp) - np.asarray(mean)) / np.maximum(np.asarray(std), 1e-8)
    return _lowest_mean(z, k)


def zlib_entropy(text: str) -> int:
    """Bytes of the text's UTF-8 encoding after zlib compression (level 6)."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_ratio(mean_nll: float, text: str) -> float:
    """Carlini et al. 2021 (USENIX Security, Sec. 5.2) zlib ratio: log-ppl / zlib.

    mean_nll: the text's mean token NLL (nats, = log perplexity). A text that is
    easy for the model but hard for zlib (not merely repetitive) has a low ratio:
    so the membership score is -zlib_ratio.
    """
    return float(mean_nll) / zlib_entropy(text)


def attack_auc(member_scores, nonmember_scores) -> float:
    """ROC AUC of telling members (label 1) from non-members by a higher-is-member score."""
    member, nonmember = np.asarray(member_scores), np.asarray(nonmember_scores)
    if len(member) == 0 or len(nonmember) == 0:
        raise CourseError("an attack needs member and non-member documents: both "
                          "sets must be non-empty")
    labels = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    return float(roc_auc_score(labels, np.r_[member, nonmember]))


def attack_scores(model, tokenizer, texts: list[str], reference=None, k: float = 0.2,
                  batch_size: int = 8) -> pd.DataFrame:
    """One row per text, one higher-is-member column per attack (see the top).

    reference: a second model (an oracle of another size or seed) for the reference
    attack; without it that column is left out.
    """
    stats = token_stats(model, tokenizer, texts, batch_size)
    loss = np.array([-s.logp.mean() for s in stats])  # mean token NLL
    table = pd.DataFrame({
        "loss": -loss,
        "min_k": [min_k_score(s.logp, k) for s in stats],
        "min_k_pp": [min_k_plus_plus_score(s.logp, s.mean, s.std, k) for s in stats],
        "zlib": [-zlib_ratio(x, t) for x, t in zip(loss, texts)],
    })
    if reference is not None:
        ref = token_stats(reference, tokenizer, texts, batch_size)
        table["reference"] = np.array([-s.logp.mean() for s in ref]) - loss
    return table


def membership_attacks(model, tokenizer, benchmark, reference=None, k: float = 0.2,
                       batch_size: int = 8) -> dict[str, float]:
    """{attack: AUC} on forget_train (members) vs forget_validation (non-members)."""
    members, nonmembers = course_data.mia_sets(benchmark)
    scored = [attack_scores(model, tokenizer, list(split["document"]), reference, k,
                            batch_size) for split in (members, nonmembers)]
    return {name: attack_auc(scored[0][name], scored[1][name])
            for name in scored[0].columns}


def attack_table(models: dict, tokenizer, benchmark, reference=None, k: float = 0.2,
                 batch_size: int = 8) -> pd.DataFrame:
    """AUC of every attack (rows) on every named model (columns)."""
    return pd.DataFrame({name: membership_attacks(model, tokenizer, benchmark,
                                                  reference, k, batch_size)
                         for name, model in models.items()})


def over_oracle(table: pd.DataFrame, oracle: str = "oracle") -> pd.DataFrame:
    """How much more each model gives away than the oracle: |AUC - 0.5| - oracle's.

    Positive: the attack separates forgotten from never-seen documents better on
    this model than on a model that truly never saw them. table: attack_table's.
    """
    if oracle not in table:
        raise CourseError(f"no {oracle!r} column: attack the oracle too")
    gap = (table - 0.5).abs()
    return gap.drop(columns=oracle).sub(gap[oracle], axis=0)
