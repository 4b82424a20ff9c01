"""Unlearning methods: a registry of losses, each owning its hyperparameters.

Gradient ascent, gradient difference, KL and NPO differ only in how they score a
forget batch (and, for some, a retain batch). Each is a registered `Method`: a loss

    loss(model, forget_batch, retain_batch, reference, params) -> (loss, terms)

where a batch is what `companion.train.collate` makes (input_ids, attention_mask,
labels with -100 on padding), `reference` the model the method compares with
(`Method.reference` says which: "none", "start" = a frozen copy of the starting
model, "oracle" = the oracle stage), `params` an instance of the method's own
Params dataclass, `loss` the scalar to *minimise* and `terms` a dict of floats
kept in the training history. The optimiser minimises, so ascent on the forget
set is a minus sign. A profile or the command line sets a method's
hyperparameters through UnlearnConfig.params, by method name:
`--unlearn.params.npo.beta=0.05` (unset ones keep the Params defaults).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable

import torch
import torch.nn.functional as F

from .config import CourseError, UnlearnConfig
from .textloss import logits_of, next_token_labels, sequence_nll, token_nll

REFERENCES = ("none", "start", "oracle")  # what a method compares the model with
# UnlearnConfig fields of the time before each method owned its hyperparameters ->
# their names now, under UnlearnConfig.params (stages saved then are read so)
FORMER_FIELDS = {"retain_weight": "gradient_difference.retain_weight",
                 "kl_weight": "kl.kl_weight", "npo_beta": "npo.beta"}


@dataclass(frozen=True)
class NoParams:
    """A method without hyperparameters (gradient ascent)."""


@dataclass(frozen=True)
class Method:
    """One registry entry: the loss, its Params dataclass, what the run must give it.

    ceiling: its Params have a `ceiling` (nats per token) that negative_finetune
    fills from the calibration when left 0 (per-document stopping). chunked: its
    Params have `chunks`, and the forget batches come part by part
    (companion.train.chunked_batches) instead of shuffled.
    """

    name: str
    loss: Callable  # (model, forget_batch, retain_batch, reference, params)
    params: type = NoParams  # a frozen dataclass; its defaults are the method's
    reference: str = "none"  # "none" | "start" | "oracle" (REFERENCES)
    ceiling: bool = False
    chunked: bool = False

    def __call__(self, model, forget_batch, retain_batch=None, reference=None,
                 params=None):
        """(loss, terms) of one step; `params` default to the Params defaults."""
        params = self.params() if params is None else params
        return self.loss(model, forget_batch, retain_batch, reference, params)

    def params_of(self, config: UnlearnConfig):
        """This method's Params from config.params[name] (typed, unknown names refused)."""
        strangers = sorted(set(config.params) - set(METHODS))
        if strangers:
            raise CourseError(f"unlearn.params names {strangers[0]!r}, not a method: "
                              f"choose from {', '.join(METHODS)}")
        given, default = config.params.get(self.name, {}), self.params()
        names = [f.name for f in fields(self.params)]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise CourseError(f"{self.name} has no hyperparameter {unknown[0]!r}: it has "
                              f"{', '.join(names) or 'none'}")
        try:
            typed = {k: type(getattr(default, k))(v) for k, v in given.items()}
        except (TypeError, ValueError):
            raise CourseError(f"{self.name}'s hyperparameters {given} are not all "
                              "numbers") from None
        cut = [k for k, v in given.items()  # int(2.7) would be 2, silently
               if type(typed[k]) is int and typed[k] != v]
        if cut:
            raise CourseError(f"{self.name}'s {cut[0]} is a whole number, not "
                              f"{given[cut[0]]}")
        return replace(default, **typed)


METHODS: dict[str, Method] = {}


def register(name: str, params: type = NoParams, reference: str = "none", *,
             ceiling: bool = False, chunked: bool = False):
    """Decorator: make a loss available under `name` (for notebooks and the CLI).

    ceiling, chunked: what the run gives the loss beyond a batch (see `Method`).
    """
    if reference not in REFERENCES:
        raise CourseError(f"reference {reference!r} of method {name!r}: use one of "
                          f"{', '.join(REFERENCES)}")

    def add(loss: Callable) -> Callable:
        METHODS[name] = Method(name, loss, params, reference, ceiling, chunked)
        return loss
    return add


def get_method(name: str) -> Method:
    """The registered method called `name`, or a CourseError listing the names."""
    if name not in METHODS:
        raise CourseError(
            f"unknown unlearning method {name!r}: choose one of {', '.join(METHODS)}"
        )
    return METHODS[name]


def with_params(config: UnlearnConfig) -> UnlearnConfig:
    """`config` with params holding exactly its method's hyperparameters, all filled in.

    What a stage records in its settings, so a changed hyperparameter of the
    stage's method makes it stale and another method's never does.
    """
    params = get_method(config.method).params_of(config)
    return replace(config, params={config.method: asdict(params)} if asdict(params)
                   else {})


def retain_kl(model, reference, batch: dict) -> torch.Tensor:
    """KL(reference || model) of the next-token distributions, per labelled token."""
    logp = F.log_softmax(logits_of(model, batch), dim=-1)  # (batch, seq, vocab)
    with torch.no_grad():
        ref_logp = F.log_softmax(logits_of(reference, batch), dim=-1)
    kl = F.kl_div(logp, ref_logp, log_target=True, reduction="none").sum(-1)  # (b, s)
    mask = next_token_labels(batch["labels"]) != -100
    return (kl * mask).sum() / mask.sum().clamp(min=1)


@register("gradient_ascent")
def gradient_ascent(model, forget_batch, retain_batch=None, reference=None,
                    params=None):
    """Push the forget set's likelihood down: minimise its negative NLL."""
    forget = token_nll(model, forget_batch)
    return -forget, {"forget_loss": forget.item()}


@dataclass(frozen=True)
class GradientDifferenceParams:
    retain_weight: float = 1.0  # weight of the retain set's loss


@register("gradient_difference", GradientDifferenceParams)
def gradient_difference(model, forget_batch, retain_batch, reference, params):
    """Ascent on the forget set plus ordinary descent on the retain set."""
    forget, retain = token_nll(model, forget_batch), token_nll(model, retain_batch)
    loss = -forget + params.retain_weight * retain
    return loss, {"forget_loss": forget.item(), "retain_loss": retain.item()}


@dataclass(frozen=True)
class KLParams:
    kl_weight: float = 1.0  # weight of the KL-to-reference term on the retain set


@register("kl", KLParams, reference="start")
def kl(model, forget_batch, retain_batch, reference, params):
    """Ascent on the forget set; stay close to the reference model on the retain set."""
    forget = token_nll(model, forget_batch)
    divergence = retain_kl(model, reference, retain_batch)
    loss = -forget + params.kl_weight * divergence
    return loss, {"forget_loss": forget.item(), "retain_kl": divergence.item()}


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024): -(2/beta) * mean logsigmoid(-beta * (logp - ref_logp)).

    `logp`, `ref_logp`: (batch,) summed log-likelihoods of whole forget sequences.
    It behaves like gradient ascent at the start (logp == ref_logp) and fades out
    as the model's likelihood falls below the reference's, so it does not run away.
    """
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


@dataclass(frozen=True)
class NPOParams:
    beta: float = 0.1  # inverse temperature (Zhang et al. 2024)


@register("npo", NPOParams, reference="start")
def npo(model, forget_batch, retain_batch, reference, params):
    """Negative Preference Optimisation on the forget set, against the reference."""
    nll, count = sequence_nll(model, forget_batch)
    with torch.no_grad():
        ref_nll, _ = sequence_nll(reference, forget_batch)
    loss = npo_loss(-nll, -ref_nll, params.beta)
    forget = (nll.sum() / count.sum().clamp(min=1)).item()
    return loss, {"forget_loss": forget, "log_ratio": (ref_nll - nll).mean().item()}


# ---------------------------------------------------------------- variants of the method
# Losses that only the sequential variants use (companion.stages.VARIANTS): each
# starts from the stabilised model and moves the profile's blocks, like `sequential`.


@dataclass(frozen=True)
class PerDocumentParams:
    # nats per token a forget text may reach before its ascent stops; 0 = the
    # calibration's target at the start (held-out documents' loss, or the oracle's)
    ceiling: float = 0.0

    def __post_init__(self):
        if not math.isfinite(self.ceiling) or self.ceiling < 0:
            raise CourseError(f"per_document_ascent's ceiling is {self.ceiling}: give a "
                              "loss in nats per token above 0, or 0 for the "
                              "calibration's level")


@register("per_document_ascent", PerDocumentParams, ceiling=True)
def per_document_ascent(model, forget_batch, retain_batch, reference, params):
    """Gradient ascent on the forget texts still below `params.ceiling` only.

    Per-document stopping: a text whose mean loss per token has reached the level
    of never-seen documents drops out of the loss, so it is not pushed past it
    (over-unlearning) while the texts still memorised keep moving. When every
    text of the batch is above the ceiling the loss is 0 and nothing moves.
    """
    if params.ceiling <= 0:
        raise CourseError(f"per_document_ascent needs a ceiling > 0 nats per token, got "
                          f"{params.ceiling}: leave it 0 for negative_finetune to set "
                          "it from the calibration")
    nll, count = sequence_nll(model, forget_batch)  # (batch,), (batch,)
    below = (nll.detach() / count.clamp(min=1)) < params.ceiling
    loss = -(nll * below).sum() / (count * below).sum().clamp(min=1)
    forget = (nll.detach().sum() / count.sum().clamp(min=1)).item()
    return loss, {"forget_loss": forget, "active": below.float().mean().item(),
                  "ceiling": params.ceiling}


@dataclass(frozen=True)
class ChunkedParams:
    chunks: int = 4  # the forget set cut into this many parts, unlearnt in turn
    retain_weight: float = 1.0  # weight of the retain batch mixed into every step

    def __post_init__(self):
        if self.chunks < 1:
            raise CourseError(f"chunked_difference's chunks is {self.chunks}: cut the "
                              "forget set into 1 part or more")


@register("chunked_difference", ChunkedParams, chunked=True)
def chunked_difference(model, forget_batch, retain_batch, reference, params):
    """Ascent on one chunk of the forget set at a time, mixed with retain descent.

    The loss is gradient difference's; what differs is the order of the forget
    batches (`companion.train.chunked_batches`): all of chunk 1, then chunk 2...
    (AILS-NTUA's SemEval-2025 recipe, arXiv 2503.02443, without its LoRA).
    """
    return gradient_difference(model, forget_batch, retain_batch, reference, params)
