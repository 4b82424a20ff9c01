"""What every checker shares: one clean error, escalating hints, hashed choice keys.

A checker builds a `Feedback` for its exercise and reports through it: `ok` prints
"✓ ...", `fail` raises `ExerciseError` with what went wrong and a hint. Hints
escalate: the first failure of an exercise gets a nudge (no code), later failures
of the same exercise in the same kernel get more specific hints, the last of which
may show code. IPython shows an `ExerciseError` as its message alone, without a
traceback through the checker (`_render_traceback_`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from .. import train

_FAILURES: dict[str, int] = {}  # exercise name -> failed checks so far (this kernel)
STRONGER = " (check again after your next try for a stronger hint)"


class ExerciseError(AssertionError):
    """A wrong or unfinished answer; the message is the feedback."""

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of a traceback: the feedback only."""
        return [f"✗ {self}"]


def reset_hints(name: str | None = None) -> None:
    """Start the hints of exercise `name` (or of all) again from the first nudge."""
    if name is None:
        _FAILURES.clear()
    else:
        _FAILURES.pop(name, None)


@dataclass
class Feedback:
    """Reports of one check of exercise `name`; `hints` escalate, nudge first."""

    name: str
    hints: tuple[str, ...]  # (nudge without code, more specific, ..., maybe code)

    def __post_init__(self):
        if isinstance(self.hints, str):
            self.hints = (self.hints,)

    def hint(self) -> str:
        """The hint the next failure shows (the nudge on a first failure)."""
        level = _FAILURES.get(self.name, 0)
        text = self.hints[min(level, len(self.hints) - 1)]
        if level + 1 < len(self.hints):
            text += STRONGER
        return text

    def fail(self, message: str, hint: str | None = None):
        """Raise the feedback: `message`, then `hint` or the escalating one."""
        text = hint or self.hint()
        _FAILURES[self.name] = _FAILURES.get(self.name, 0) + 1
        raise ExerciseError(f"{self.name}: {message}\n  hint: {text}")

    def ok(self, message: str) -> bool:
        """Print the success line and return True."""
        _FAILURES.pop(self.name, None)
        print(f"✓ {message}")
        return True

    def not_done(self, answer: Any) -> None:
        """A value answer still left as None or ... is unfinished."""
        if answer is None or answer is Ellipsis:
            raise ExerciseError(f"{self.name}: not done yet: {self.hints[0]}")

    def call(self, fn: Callable, args: tuple, shown: str):
        """fn(*args); a stub becomes 'not done yet', any other crash names the input."""
        if not callable(fn):
            self.fail(f"expected a function, got {type(fn).__name__}")
        try:
            return fn(*args)
        except NotImplementedError as error:
            raise ExerciseError(
                f"{self.name}: not done yet: {str(error) or self.hints[0]}") from None
        except Exception as error:  # the learner's bug, reported in one line
            self.fail(f"{shown} raised {type(error).__name__}: {error}")

    def scalar_tensor(self, got, expected: float, what: str) -> torch.Tensor:
        """`got` as a one-element tensor with a gradient, or a specific failure."""
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            if got.grad_fn is None and close(got, expected):
                self.fail("the value is right but has no gradient",
                          "return the tensor itself, not a detached copy: training "
                          "backpropagates through it")
            return got
        if isinstance(got, (int, float)) and close(got, expected):
            self.fail(f"the {what} is right but is a plain number, so it has no "
                      "gradient", "return the tensor itself, not a Python number taken "
                      "out of it: training backpropagates through it")
        self.fail(f"expected a scalar tensor, got {type(got).__name__}")


def close(got, expected: float, tol: float = 1e-4) -> bool:
    """`got` (a number or one-element tensor) within `tol` of `expected`."""
    if isinstance(got, torch.Tensor):
        got = got.detach()
    try:
        return math.isclose(float(got), float(expected), rel_tol=tol, abs_tol=tol)
    except (TypeError, ValueError, RuntimeError):
        return False


# ---------------------------------------------------------------- multiple choice
def _digest(prompt: str, letter: str) -> str:
    return hashlib.sha256(f"{prompt}\n{letter}".encode()).hexdigest()


@dataclass(frozen=True)
class Question:
    """A multiple-choice question; the key is a hash, so printing it shows no answer.

    `key` is `answer_key(prompt, letter)` of the right letter: the instructor writes
    it once (`python -c "from companion.exercises import answer_key; ..."`).
    """

    prompt: str
    options: dict[str, str]  # letter -> option text
    key: str = field(repr=False)  # sha256 of the prompt and the right letter
    explanations: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Question({self.prompt!r}, options {', '.join(self.options)})"

    def show(self) -> None:
        """Print the question and its options (a notebook cell calls this)."""
        print(self.prompt)
        for letter, text in self.options.items():
            print(f"  {letter}) {text}")

    def is_right(self, letter: str) -> bool:
        """True when `letter` hashes to the key."""
        return _digest(self.prompt, letter) == self.key


def answer_key(prompt: str, letter: str) -> str:
    """The `Question.key` that makes `letter` the right option of `prompt`."""
    return _digest(prompt, letter)


def check_choice(question: Question, answer, name: str) -> bool:
    """Check a letter against `question`; each wrong option explains itself."""
    feedback = Feedback(name, (
        f"set answer to one letter: {', '.join(map(repr, question.options))}",))
    feedback.not_done(answer)
    letter = str(answer).strip().lower().rstrip(")")
    if letter not in question.options:
        feedback.fail(f"{answer!r} is not an option")
    if not question.is_right(letter):
        raise ExerciseError(f"{name}: {letter}) is not it. "
                            f"{question.explanations[letter]}")
    return feedback.ok(f"{name}: {letter}) is right. {question.explanations[letter]}")


# ---------------------------------------------------------------- tiny inputs
def tiny_gpt2(n_layer: int = 1, vocab: int = 40, tie: bool = True, seed: int = 0):
    """A GPT-2 small enough to build in milliseconds (for the checks only)."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=32, n_embd=8, n_layer=n_layer,
                        n_head=2, bos_token_id=0, eos_token_id=0, pad_token_id=0,
                        tie_word_embeddings=tie, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    return GPT2LMHeadModel(config).eval()


def tiny_batch(rows: list[list[int]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """A batch the way training makes it (train.collate): right padding, EOS = pad."""
    return train.collate(rows, pad_id)


# rows end in EOS (id 0) as train.encode makes them; EOS is also the pad token
ROWS = [[5, 9, 3, 7, 0], [4, 8, 0], [6, 2, 11, 0], [13, 0, 12, 14, 15, 0]]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its notebook, its checker and the reference solution."""

    notebook: str
    checker: Callable
    kind: str  # "function" (solution has the learner's signature), "value", "choice"
    solution: Any  # function: the reference; value: context -> answer; choice: letter
