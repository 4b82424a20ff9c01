"""Unlearning methods: each one is a loss, registered by name.

Gradient ascent, gradient difference, KL and NPO differ only in how they score a
forget batch (and, for some, a retain batch). Each is a function

    method(model, forget_batch, retain_batch, reference, config) -> (loss, terms)

where a batch is what `companion.train.collate` makes (input_ids, attention_mask,
labels with -100 on padding), `reference` is a frozen copy of the starting model
(or None for methods that need none), `config` an `UnlearnConfig`, `loss` the
scalar to *minimise* and `terms` a dict of floats kept in the training history.
The optimiser minimises, so ascent on the forget set is a minus sign.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .config import CourseError
from .textloss import logits_of, next_token_labels, sequence_nll, token_nll

METHODS: dict[str, Callable] = {}


def register(name: str, needs_reference: bool = False):
    """Decorator: make a loss available under `name` (for notebooks and the CLI)."""
    def add(method: Callable) -> Callable:
        method.needs_reference = needs_reference  # then training makes a frozen copy
        METHODS[name] = method
        return method
    return add


def get_method(name: str) -> Callable:
    """The registered method called `name`, or a CourseError listing the names."""
    if name not in METHODS:
        raise CourseError(
            f"unknown unlearning method {name!r}: choose one of {', '.join(METHODS)}"
        )
    return METHODS[name]


def retain_kl(model, reference, batch: dict) -> torch.Tensor:
    """KL(reference || model) of the next-token distributions, per labelled token."""
    logp = F.log_softmax(logits_of(model, batch), dim=-1)  # (batch, seq, vocab)
    with torch.no_grad():
        ref_logp = F.log_softmax(logits_of(reference, batch), dim=-1)
    kl = F.kl_div(logp, ref_logp, log_target=True, reduction="none").sum(-1)  # (b, s)
    mask = next_token_labels(batch["labels"]) != -100
    return (kl * mask).sum() / mask.sum().clamp(min=1)


@register("gradient_ascent")
def gradient_ascent(model, forget_batch, retain_batch, reference, config):
    """Push the forget set's likelihood down: minimise its negative NLL."""
    forget = token_nll(model, forget_batch)
    return -forget, {"forget_loss": forget.item()}


@register("gradient_difference")
def gradient_difference(model, forget_batch, retain_batch, reference, config):
    """Ascent on the forget set plus ordinary descent on the retain set."""
    forget, retain = token_nll(model, forget_batch), token_nll(model, retain_batch)
    loss = -forget + config.retain_weight * retain
    return loss, {"forget_loss": forget.item(), "retain_loss": retain.item()}


@register("kl", needs_reference=True)
def kl(model, forget_batch, retain_batch, reference, config):
    """Ascent on the forget set; stay close to the reference model on the retain set."""
    forget = token_nll(model, forget_batch)
    divergence = retain_kl(model, reference, retain_batch)
    loss = -forget + config.kl_weight * divergence
    return loss, {"forget_loss": forget.item(), "retain_kl": divergence.item()}


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024): -(2/beta) * mean logsigmoid(-beta * (logp - ref_logp)).

    `logp`, `ref_logp`: (batch,) summed log-likelihoods of whole forget sequences.
    It behaves like gradient ascent at the start (logp == ref_logp) and fades out
    as the model's likelihood falls below the reference's, so it does not run away.
    """
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


@register("npo", needs_reference=True)
def npo(model, forget_batch, retain_batch, reference, config):
    """Negative Preference Optimisation on the forget set, against the reference."""
    nll, count = sequence_nll(model, forget_batch)
    with torch.no_grad():
        ref_nll, _ = sequence_nll(reference, forget_batch)
    loss = npo_loss(-nll, -ref_nll, config.npo_beta)
    forget = (nll.sum() / count.sum().clamp(min=1)).item()
    return loss, {"forget_loss": forget, "log_ratio": (ref_nll - nll).mean().item()}
