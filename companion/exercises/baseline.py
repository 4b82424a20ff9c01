"""Exercises of notebook 01 (baseline fine-tuning): labels, token loss, one step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import methods, train
from ..config import TrainConfig
from .feedback import ROWS, Exercise, Feedback, close, tiny_batch, tiny_gpt2


def labels_for(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Reference of check_labels: the labels train.collate makes for this batch."""
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask)]
    return train.collate(rows, pad_id=0)["labels"]


LABELS_HINTS = (
    "padding must not be learnt; which tensor tells you where the padding is?",
    "copy input_ids and put -100 wherever attention_mask is 0",
    "input_ids.masked_fill(attention_mask == 0, -100)",
)


def check_labels(fn) -> bool:
    """`labels_for(input_ids, attention_mask)`: input_ids with -100 where mask is 0."""
    feedback = Feedback("labels", LABELS_HINTS)
    batch = tiny_batch(ROWS)
    ids, mask = batch["input_ids"].clone(), batch["attention_mask"].clone()
    got = feedback.call(fn, (ids, mask), "labels_for(input_ids, attention_mask)")
    if not torch.equal(ids, batch["input_ids"]):
        feedback.fail("labels_for changed input_ids in place",
                      "work on a copy of input_ids")
    if not isinstance(got, torch.Tensor) or got.shape != ids.shape:
        feedback.fail(f"expected a tensor of shape {tuple(ids.shape)}, got "
                      f"{getattr(got, 'shape', type(got).__name__)}")
    expected = batch["labels"]
    if torch.equal(got, expected):
        return feedback.ok("labels: padding is -100, every real token (the final EOS "
                           "too) kept")
    if torch.equal(got, ids.masked_fill(ids == 0, -100)):
        feedback.fail("you masked by token id: the pad token IS the EOS token here, so "
                      "the EOS that ends every text (and the one inside row 3) became "
                      "-100 and the model would never learn to stop",
                      "find padding by attention_mask == 0")
    row = int((got != expected).any(dim=1).nonzero()[0])
    feedback.fail(f"row {row}: input_ids {ids[row].tolist()}, mask "
                  f"{mask[row].tolist()}: expected {expected[row].tolist()}, got "
                  f"{got[row].tolist()}")


def mean_token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Reference of check_token_nll, via methods.sequence_nll on given logits."""
    nll, count = methods.sequence_nll(None, {"labels": labels}, logits.float())
    return nll.sum() / count.sum().clamp(min=1)


TOKEN_NLL_HINTS = (
    "the logits at position t are the model's guess for the token at t+1",
    "compare logits[:, :-1] with labels[:, 1:]; F.cross_entropy wants the "
    "vocabulary in dim 1 and skips -100 labels",
    "F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], "
    "ignore_index=-100)",
)


def _per_sequence_mean(logits, labels) -> float:
    nll, count = methods.sequence_nll(None, {"labels": labels}, logits.float())
    return (nll / count.clamp(min=1)).mean().item()


def check_token_nll(fn) -> bool:
    """`mean_token_nll(logits, labels)`: shift by one, mean cross-entropy, skip -100."""
    feedback = Feedback("token_nll", TOKEN_NLL_HINTS)
    model, batch = tiny_gpt2(), tiny_batch(ROWS)
    logits = model(input_ids=batch["input_ids"],
                   attention_mask=batch["attention_mask"]).logits  # (batch, seq, vocab)
    labels = batch["labels"]
    got = feedback.call(fn, (logits, labels), "mean_token_nll(logits, labels)")
    expected = methods.token_nll(model, batch).item()
    got = feedback.scalar_tensor(got, expected, "loss")
    if close(got, expected):
        return feedback.ok(f"mean token NLL {got.item():.4f} = methods.token_nll")
    flat = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
    if close(got, flat.item()):
        feedback.fail(f"got {got.item():.4f}, expected {expected:.4f}: the logits are "
                      "not shifted (position t predicts token t+1)")
    if close(got, _per_sequence_mean(logits, labels)):
        feedback.fail(f"got {got.item():.4f}, expected {expected:.4f}: that is the "
                      "mean of per-sequence means; average over all labelled tokens "
                      "of the batch at once")
    feedback.fail(f"got {float(got):.4f}, expected {expected:.4f} on a 4-sequence "
                  "padded batch")


def training_step(model, batch: dict, optimizer, clip_norm: float) -> float:
    """Reference of check_training_step: train.train_step on one batch; its loss."""
    config = TrainConfig(clip_norm=clip_norm)
    terms, _ = train.train_step(model, train.language_model_loss, iter([batch]),
                                optimizer, config)
    return terms["loss"]


STEP_CLIP = 0.05  # small enough that clipping changes every step of the check
STEP_HINTS = (
    "one step: the loss of the batch, its gradients, clipped, one optimiser step; "
    "and what must happen to the gradients of the step before?",
    "backward() ADDS to the gradients; clear them once per step, and clip them to "
    "clip_norm before the optimiser steps",
    "loss = token_nll(model, batch); loss.backward(); clip_grad_norm_("
    "model.parameters(), clip_norm); optimizer.step(); optimizer.zero_grad()",
)


def _weights_after_steps(feedback: Feedback, fn, shown: str) -> list[torch.Tensor]:
    """All weights after each of 3 steps of `fn`, from one start, batches, AdamW."""
    model = tiny_gpt2(seed=1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    weights = []
    for rows in (ROWS[:2], ROWS[2:], ROWS[:2]):
        feedback.call(fn, (model, tiny_batch(rows), optimizer, STEP_CLIP), shown)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return weights


def check_training_step(fn) -> bool:
    """`training_step(model, batch, optimizer, clip_norm)`: one step of the loop.

    Runs three steps of the learner's function and of `train.train_step` (the
    step of every stage) from the same weights, batches and optimiser, and
    compares the weights after each step: the loss alone cannot tell a loop
    without zero_grad (it still descends) from the right one.
    """
    feedback = Feedback("training_step", STEP_HINTS)
    shown = "training_step(model, batch, optimizer, clip_norm)"
    got = _weights_after_steps(feedback, fn, shown)
    expected = _weights_after_steps(feedback, training_step, shown)
    wrong = [k for k in range(3) if not torch.allclose(got[k], expected[k], atol=1e-5)]
    if not wrong:
        return feedback.ok("three steps move every weight exactly as train.train_step "
                           "does")
    start = tiny_gpt2(seed=1).train()
    flat = torch.cat([p.detach().flatten() for p in start.parameters()])
    if (got[-1] - flat).dot(expected[-1] - flat) < 0:
        feedback.fail("the weights moved against the package's step: this loop "
                      "ascends (the loss rises)",
                      "minimise the loss as it is; no minus sign in training")
    if wrong[0] > 0:
        feedback.fail(f"step 1 matches the package's step but step {wrong[0] + 1} "
                      "does not: the gradients of the previous step were added to "
                      "this one", "clear the gradients once per step (zero_grad), "
                      "before backward or after the optimiser's step")
    feedback.fail("the first step already moves the weights differently from "
                  "train.train_step")


EXERCISES = {
    "labels": Exercise("01_baseline_finetuning", check_labels, "function", labels_for),
    "token_nll": Exercise("01_baseline_finetuning", check_token_nll, "function",
                          mean_token_nll),
    "training_step": Exercise("01_baseline_finetuning", check_training_step,
                              "function", training_step),
}
