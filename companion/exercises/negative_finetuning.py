"""Exercises of notebook 03 (negative fine-tuning): the ascent loss, the last blocks."""

from __future__ import annotations

import torch

from .. import methods, train
from .feedback import ROWS, Exercise, Feedback, close, tiny_batch, tiny_gpt2


def gradient_ascent_loss(model, forget_batch) -> torch.Tensor:
    """Reference of check_gradient_ascent: methods.gradient_ascent's loss."""
    return methods.gradient_ascent(model, forget_batch)[0]


GRADIENT_ASCENT_HINTS = (
    "the optimiser always minimises; what must it minimise so that the forget "
    "loss goes UP?",
    "take the usual language-model loss of the batch and flip its sign",
    "-token_nll(model, forget_batch)",
)


def check_gradient_ascent(fn) -> bool:
    """`gradient_ascent_loss(model, forget_batch)`: the loss to MINIMISE for ascent."""
    feedback = Feedback("gradient_ascent", GRADIENT_ASCENT_HINTS)
    model, batch = tiny_gpt2(), tiny_batch(ROWS)
    got = feedback.call(fn, (model, batch), "gradient_ascent_loss(model, batch)")
    expected = gradient_ascent_loss(model, batch).item()
    if isinstance(got, torch.Tensor) and got.numel() == 1 and close(got, -expected):
        feedback.fail(f"got {got.item():.4f}, expected {expected:.4f}: positive, so "
                      "minimising it is ordinary training that memorises the forget "
                      "set even harder")
    got = feedback.scalar_tensor(got, expected, "loss")
    if not close(got, expected):
        feedback.fail(f"got {float(got):.4f}, expected {expected:.4f}")
    return feedback.ok(f"gradient ascent loss {got.item():.4f} (negative: minimising "
                       "it raises the forget loss)")


def _blocks(names: list[str]) -> list[int]:
    return sorted({int(m[1]) for n in names if (m := train.BLOCK.search(n))})


def last_blocks(n_layer: int, k: int) -> list[int]:
    """Reference of check_last_blocks: the blocks train's "last:k" spec lets move."""
    model = tiny_gpt2(n_layer=n_layer)
    return _blocks(train.trainable_parameters(model, f"last:{k}"))


LAST_BLOCKS_HINTS = (
    "how are the blocks numbered, and which end is the output side?",
    "blocks are numbered 0..n_layer-1, so the last k are n_layer-k .. n_layer-1",
)


def check_last_blocks(fn) -> bool:
    """`last_blocks(n_layer, k)`: the indices of the last k of n_layer blocks."""
    feedback = Feedback("last_blocks", LAST_BLOCKS_HINTS)
    for n_layer, k in [(4, 1), (4, 2), (2, 2), (12, 3), (6, 6)]:
        shown = f"last_blocks({n_layer}, {k})"
        got = feedback.call(fn, (n_layer, k), shown)
        expected = last_blocks(n_layer, k)
        try:
            got_list = sorted(int(i) for i in got)
        except (TypeError, ValueError):
            feedback.fail(f"{shown} returned {got!r}, not indices")
        if got_list != expected and got_list == list(range(k)):
            feedback.fail(f"{shown} returned {got_list}, the FIRST {k} blocks; "
                          f"expected {expected}")
        if got_list != expected:
            feedback.fail(f"{shown} returned {got_list}, expected {expected}")
    return feedback.ok("last_blocks agrees with trainable_parameters(model, 'last:k')")


EXERCISES = {
    "gradient_ascent": Exercise("03_negative_finetuning", check_gradient_ascent,
                                "function", gradient_ascent_loss),
    "last_blocks": Exercise("03_negative_finetuning", check_last_blocks, "function",
                            last_blocks),
}
