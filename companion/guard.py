"""The guard of negative fine-tuning: when to stop, and which weights to keep.

Gradient ascent has no natural end: the forget loss can rise for ever, and the
model falls apart on the way. The guard measures the model every `check_every`
steps and stops it by one of the profile's rules (`UnlearnConfig.stop_rule`):

    regurgitation  forget ROUGE-L recall <= stop_regurgitation (a generated score)
    held_out       the calibrated stop: the forget documents' mean loss reaches
                   that of documents the model never trained on, measured under
                   the same model at the same check (needs no oracle, so it also
                   works for pretrained GPT-2 on Colab)
    oracle         the calibrated stop against exact unlearning: the forget
                   documents' mean loss reaches the oracle's loss on them
    steps          no target: the budget of steps alone (trade-off curves)

"Indistinguishable" is the field's goal (TOFU's forget quality, MUSE's PrivLeak
compare with a model retrained without the forget set): stopping earlier leaves
the documents recognisable, stopping later over-unlearns, and an attacker sees
both. A calibrated stop keeps the weights of the check nearest its target, not
the first past it. Divergence (NaN/inf, or a loss past divergence_factor x its
start) restores the last healthy weights whatever the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .config import CourseError, EvalConfig, UnlearnConfig, with_overrides
from .evaluate import forget_regurgitation
from .methods import get_method
from .textloss import document_losses, mean_loss

CHECK_TEXTS = 64  # the guard measures forget/retain loss on at most this many texts
STOP_RULES = ("regurgitation", "held_out", "oracle", "steps")


def stop_on_nonfinite(step: int, record: dict) -> str | None:
    """The default guard of positive fine-tuning: stop on a NaN/inf loss or gradient.

    An fp16 step whose gradients overflowed (record["overflow"]) is not a
    divergence: the loss scaler skipped it and lowered its scale.
    """
    keys = ("loss",) if record.get("overflow") else ("loss", "grad_norm")
    bad = [key for key in keys if not math.isfinite(record[key])]
    return f"diverged at step {step}: {bad[0]} {record[bad[0]]}" if bad else None


@dataclass
class Calibration:
    """The calibrated stop's two numbers: the forget documents' loss and its target.

    forget_documents: the documents being unlearnt (whole texts, not QA items).
    held_out: documents never trained on, scored under the current model (rule
    "held_out"); they must not be the MIA's non-members (the course uses the
    retain set's validation documents), or the stop would be tuned on the test.
    level: a fixed target loss instead (rule "oracle": the oracle's mean loss on
    the forget documents, in nats per token).
    """

    forget_documents: list[str]
    held_out: list[str] | None = None
    level: float | None = None

    def __post_init__(self):
        if not self.forget_documents:
            raise CourseError("the calibrated stop needs forget documents (sc items): "
                              "the forget set has none; use stop_rule='regurgitation'")
        if self.level is None and not self.held_out:
            raise CourseError("the calibrated stop needs held-out documents or an "
                              "oracle level: the validation split has no documents")
        self.forget_documents = self.forget_documents[:CHECK_TEXTS]
        self.held_out = (self.held_out or [])[:CHECK_TEXTS]

    def measure(self, model, tokenizer, batch_size: int) -> dict:
        """{"forget_doc_loss", "target_loss"}: mean per-document losses, nats/token."""
        forget = document_losses(model, tokenizer, self.forget_documents,
                                 batch_size=batch_size).mean()
        target = self.level if self.level is not None else document_losses(
            model, tokenizer, self.held_out, batch_size=batch_size).mean()
        return {"forget_doc_loss": float(forget), "target_loss": float(target)}


def needs_calibration(config: UnlearnConfig) -> bool:
    """Whether a run needs a Calibration: the calibrated stop, or a method's ceiling.

    Per-document stopping (companion.methods.per_document_ascent) takes its ceiling
    from the calibration's target at the start, whatever the stop rule.
    """
    return config.stop_rule in ("held_out", "oracle") or get_method(config.method).ceiling


def reached(config: UnlearnConfig, step: int, row: dict) -> str | None:
    """Why a check's measurements (a guard row) meet the stopping rule, else None."""
    goal, rule, reg = config.stop_forget_loss, config.stop_rule, config.stop_regurgitation
    if goal is not None and row["forget_loss"] > goal:
        return (f"target reached at step {step}: "
                f"forget loss {row['forget_loss']:.3g} > {goal}")
    if rule == "regurgitation" and reg is not None and "regurgitation" in row \
            and row["regurgitation"] <= reg:
        return (f"target reached at step {step}: forget regurgitation "
                f"{row['regurgitation']:.3g} <= {reg}")
    if rule in ("held_out", "oracle") and "target_loss" in row \
            and row["forget_doc_loss"] >= row["target_loss"]:
        return (f"target reached at step {step}: forget document loss "
                f"{row['forget_doc_loss']:.3g} >= {row['target_loss']:.3g} ({rule})")
    return None


class Guard:
    """Stops negative fine-tuning at its target or at divergence, keeping good weights.

    Every `check_every` steps it measures the forget and retain loss (and the
    `monitor`, forget regurgitation, or the `calibration`); healthy weights are
    copied in memory then. A NaN/inf loss, gradient or weight, or a loss past
    divergence_factor x its start (the start floored at 1 nat, so a memorised ~0
    start does not make ordinary progress look like an explosion) restores the
    last healthy copy.
    """

    def __init__(self, model, tokenizer, forget_texts, retain_texts,
                 config: UnlearnConfig, monitor: Callable | None = None,
                 calibration: Calibration | None = None):
        if config.stop_rule not in STOP_RULES:
            raise CourseError(f"unknown stop_rule {config.stop_rule!r}: choose one of "
                              f"{', '.join(STOP_RULES)}")
        if config.stop_rule in ("held_out", "oracle") and calibration is None:
            raise CourseError(f"stop_rule {config.stop_rule!r} needs a Calibration "
                              "(forget documents and held-out documents or a level)")
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.monitor, self.calibration = monitor, calibration
        self.texts = {"forget": forget_texts[:CHECK_TEXTS],
                      "retain": retain_texts[:CHECK_TEXTS]}
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.checks: list[dict] = []
        self.previous = None  # (step, weights) of the check before the last
        self.start = self.measure(0)
        self.snapshot(0)

    def measure(self, step: int) -> dict:
        """Forget/retain loss (and monitor, calibration) now, appended to `checks`."""
        row = {"step": step}
        for split, texts in self.texts.items():
            row[f"{split}_loss"] = mean_loss(self.model, self.tokenizer, texts,
                                             max_length=self.config.max_length,
                                             batch_size=self.config.batch_size)
        if self.monitor is not None:
            row["regurgitation"] = float(self.monitor(self.model))
        if self.calibration is not None:
            row.update(self.calibration.measure(self.model, self.tokenizer,
                                                self.config.batch_size))
        self.model.train()
        self.checks.append(row)
        return row

    def snapshot(self, step: int) -> None:
        if hasattr(self, "good"):
            self.previous = (self.good_step, self.good)
        self.good_step = step
        self.good = {n: p.detach().clone() for n, p in self.params.items()}

    def _load(self, weights: dict) -> None:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(weights[name])

    def restore(self, step: int, why: str) -> str:
        self._load(self.good)
        return (f"diverged at step {step}: {why}; "
                f"restored the weights of step {self.good_step}")

    def target(self, step: int, row: dict) -> str | None:
        """A message if the stopping target is reached at this check, else None."""
        message = reached(self.config, step, row)
        if message and self.config.stop_rule in ("held_out", "oracle"):
            return self._nearest(step, row, message)
        return message

    def _nearest(self, step: int, row: dict, message: str) -> str:
        """Keep this check's weights or the previous check's, whichever is nearer."""
        gap = row["forget_doc_loss"] - row["target_loss"]
        before = self.checks[-2] if len(self.checks) > 1 else None
        if self.previous is None or before is None or step == 0:
            return message
        if abs(before["forget_doc_loss"] - before["target_loss"]) < abs(gap):
            self._load(self.previous[1])
            return f"{message}; kept the nearer weights of step {self.previous[0]}"
        return message

    def __call__(self, step: int, record: dict) -> str | None:
        if message := stop_on_nonfinite(step, record):
            return self.restore(step, message.split(": ", 1)[1])
        if not all(torch.isfinite(p).all() for p in self.params.values()):
            return self.restore(step, "NaN/inf weights")
        if step % self.config.check_every:
            return None
        row = self.measure(step)
        for split in ("forget", "retain"):
            loss = row[f"{split}_loss"]
            start = max(self.start[f"{split}_loss"], 1.0)
            limit = self.config.divergence_factor * start
            if not loss <= limit:  # also catches NaN
                return self.restore(step, f"{split} loss {loss:.3g} > {limit:.3g}")
        self.snapshot(step)
        return self.target(step, row)


MONITOR_ITEMS = 32  # forget sc items generated at each stopping check


def make_monitor(tokenizer, forget_items, config: UnlearnConfig,
                 eval_config: EvalConfig):
    """monitor(model) -> forget regurgitation, for the "regurgitation" rule (or None)."""
    if config.stop_rule != "regurgitation" or config.stop_regurgitation is None:
        return None
    eval_config = with_overrides(eval_config, max_items=MONITOR_ITEMS)
    return lambda model: forget_regurgitation(model, tokenizer, forget_items,
                                              eval_config)
