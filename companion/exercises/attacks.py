"""Exercises of notebook 07 (is it really gone?): Min-K% and repeated n-grams."""

from __future__ import annotations

import math

from .feedback import Exercise, Feedback, close

MIN_K_CASES = [
    ("ten tokens, k=0.2", [-0.1, -2.0, -0.5, -3.0, -0.2, -0.3, -1.0, -0.4, -0.6, -0.7],
     0.2),
    ("ten tokens, k=0.5", [-0.1, -2.0, -0.5, -3.0, -0.2, -0.3, -1.0, -0.4, -0.6, -0.7],
     0.5),
    ("seven tokens, k=0.2 (1.4 rounds up to 2)", [-1.0, -0.1, -5.0, -0.2, -0.3, -4.0,
                                                 -0.5], 0.2),
    ("three tokens, k=0.1 (at least one)", [-0.5, -2.5, -1.0], 0.1),
    ("k=1: the mean", [-0.5, -2.5, -1.0], 1.0),
]
MIN_K_HINTS = (
    "Min-K% looks at the tokens the model found LEAST likely, a fraction k of them",
    "sort the log-probs ascending, keep the first max(1, ceil(k * n)), return their "
    "mean (a float, higher = more likely a member)",
)


def _min_k(logp, k):
    """Reference of check_min_k: attacks.min_k_score."""
    from ..attacks import min_k_score

    return min_k_score(logp, k)


def check_min_k(fn) -> bool:
    """`min_k(logp, k)`: mean of the ceil(k * n) lowest token log-probs."""
    from ..attacks import min_k_score

    feedback = Feedback("min_k", MIN_K_HINTS)
    for name, logp, k in MIN_K_CASES:
        shown = f"min_k({logp}, {k})"
        got = feedback.call(fn, (list(logp), k), shown)
        expected = min_k_score(logp, k)
        if not close(got, expected):
            top = sorted(logp, reverse=True)[: max(1, math.ceil(k * len(logp)))]
            why = (" — those are the most likely tokens, keep the least likely"
                   if close(got, sum(top) / len(top)) else "")
            feedback.fail(f"{name}: {shown} returned {got!r}, expected "
                          f"{expected:.4f}{why}")
    return feedback.ok(f"Min-K% agrees with attacks.min_k_score on {len(MIN_K_CASES)} "
                       "cases")


NGRAM_CASES = [("a a a a", 3), ("a a a a a a", 2), ("a b c a b c", 3),
               ("The cat sat. The cat sat on the mat.", 2), ("too short", 3),
               ("one two three four five", 2)]
NGRAM_HINTS = (
    "of all the word n-grams of the text, what share repeats one seen before?",
    "split with collapse.words(text), make the n-grams tuple(w[i:i+n]), return "
    "1 - distinct / total (0.0 when there is no n-gram)",
)


def _repeated_ngrams(text, n):
    """Reference of check_repeated_ngrams: collapse.repeated_ngram_rate."""
    from ..collapse import repeated_ngram_rate

    return repeated_ngram_rate(text, n)


def check_repeated_ngrams(fn) -> bool:
    """`repeated_ngrams(text, n)`: share of word n-grams that repeat an earlier one."""
    from ..collapse import repeated_ngram_rate, words

    feedback = Feedback("repeated_ngrams", NGRAM_HINTS)
    for text, n in NGRAM_CASES:
        shown = f"repeated_ngrams({text!r}, {n})"
        got = feedback.call(fn, (text, n), shown)
        expected = repeated_ngram_rate(text, n)
        if not close(got, expected):
            tokens = words(text)
            grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
            why = (" — that is the distinct share, not the repeated one"
                   if grams and close(got, len(set(grams)) / len(grams)) else "")
            feedback.fail(f"{shown} returned {got!r}, expected {expected:.4f}{why}")
    return feedback.ok("repeated n-gram rate agrees with collapse.repeated_ngram_rate")


EXERCISES = {
    "min_k": Exercise("07_is_it_really_gone", check_min_k, "function", _min_k),
    "repeated_ngrams": Exercise("07_is_it_really_gone", check_repeated_ngrams,
                                "function", _repeated_ngrams),
}
