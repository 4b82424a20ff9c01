"""Collapse detector: degenerate output must never be read as forgetting.

A model pushed too far by gradient ascent answers every prompt with "the the the"
or one repeated phrase. Its ROUGE-L recall of the forget references is then near
0, a perfect forgetting score, while the model is broken. Two text statistics of
its greedy generations catch this (the degeneration measures of Holtzman et al.
2020, "The curious case of neural text degeneration", Sec. 4, and Welleck et al.
2020, "Neural text generation with unlikelihood training", Sec. 6):

    repeated n-gram rate  share of a generation's word n-grams that repeat an
                          earlier n-gram of the same generation (0 = none)
    distinct ratio        distinct words / words (1 = no word twice)

They are reported on forget prompts and on general prompts, with perplexity on
held-out general text, so a drop in regurgitation can be told apart from a model
that no longer writes.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .config import AttackConfig
from .generation import generate
from .membership import perplexity

WORD = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of a text, in order."""
    return WORD.findall(text.lower())


def repeated_ngram_rate(text: str, n: int = 3) -> float:
    """Share of the text's word n-grams already seen earlier in it; 0.0 if none.

    "a a a a" has trigrams (a a a), (a a a): one repeat of two, 0.5.
    """
    tokens = words(text)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def distinct_ratio(text: str) -> float:
    """Distinct words / words of the text; 1.0 for an empty text (nothing repeats)."""
    tokens = words(text)
    return len(set(tokens)) / len(tokens) if tokens else 1.0


def is_collapsed(text: str, config: AttackConfig = AttackConfig()) -> bool:
    """True when a generation repeats too many n-grams or has too few distinct words.

    Texts under 2n words are too short to judge and count as not collapsed (an
    empty answer is reported separately, as `empty`).
    """
    if len(words(text)) < 2 * config.ngram:
        return False
    return (repeated_ngram_rate(text, config.ngram) > config.max_repeat
            or distinct_ratio(text) < config.min_distinct)


def collapse_terms(generations: list[str], config: AttackConfig = AttackConfig()):
    """Means over generations: repeated n-gram rate, distinct ratio, shares collapsed
    and empty (no word at all)."""
    if not generations:
        return {"repeated_ngrams": np.nan, "distinct": np.nan, "collapsed": np.nan,
                "empty": np.nan}
    return {"repeated_ngrams": float(np.mean([repeated_ngram_rate(g, config.ngram)
                                              for g in generations])),
            "distinct": float(np.mean([distinct_ratio(g) for g in generations])),
            "collapsed": float(np.mean([is_collapsed(g, config) for g in generations])),
            "empty": float(np.mean([not words(g) for g in generations]))}


def collapse_report(models: dict, tokenizer, prompts: dict[str, list[str]],
                    heldout: list[str], config: AttackConfig,
                    max_new_tokens: int = 64) -> pd.DataFrame:
    """One row per model x prompt set: the collapse terms, and each model's
    perplexity on `heldout` general text (the same on each of its rows).

    models: {name: model}; prompts: {name: prompt texts}, each cut to
    config.prompts; greedy generations of max_new_tokens tokens.
    """
    rows = []
    for name, model in models.items():
        ppl = perplexity(model, tokenizer, heldout)
        for kind, texts in prompts.items():
            outputs = generate(model, tokenizer, list(texts)[: config.prompts],
                               max_new_tokens, progress=False)
            rows.append({"model": name, "prompts": kind,
                         **collapse_terms(outputs, config), "perplexity": ppl})
    return pd.DataFrame(rows)
