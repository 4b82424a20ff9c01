"""Collapse detector: degenerate output must never be read as forgetting.

A model pushed too far by gradient ascent answers every prompt with "the the the"
or one repeated phrase. Its ROUGE-L recall of the forget references is then near
0, a perfect forgetting score, while the model is broken. Two text statistics of
its greedy generations catch this (the degeneration measures of Holtzman et al.
2020, "The curious case of neural text degeneration", Sec. 4, and Welleck et al.
2020, "Neural text generation with unlikelihood training", Sec. 6):

    repeated n-gram rate  share of a generation's n-grams that repeat an
                          earlier n-gram of the same generation (0 = none)
    distinct ratio        distinct tokens / tokens (1 = no token twice)

Tokens are the model's own (pass its tokenizer), so "000000..." counts as the
same token repeated, not as one long word; without a tokenizer, words.

They are reported on forget prompts and on general prompts, with perplexity on
held-out general text, so a drop in regurgitation can be told apart from a model
that no longer writes.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd

from .config import AttackConfig
from .data import training_texts
from .generation import generate
from .membership import perplexity

WORD = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of a text, in order."""
    return WORD.findall(text.lower())


def units(text: str, tokenizer=None) -> list[str]:
    """The tokenizer's tokens of a text, or its words when no tokenizer is given."""
    return words(text) if tokenizer is None else tokenizer.tokenize(text)


def repeated_ngram_rate(text: str, n: int = 3, tokenizer=None) -> float:
    """Share of the text's n-grams (of words, or tokens) seen earlier in it; 0.0 if none.

    "a a a a" has trigrams (a a a), (a a a): one repeat of two, 0.5.
    """
    tokens = units(text, tokenizer)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def distinct_ratio(text: str, tokenizer=None) -> float:
    """Distinct words (or tokens) / all of them; 1.0 for an empty text."""
    tokens = units(text, tokenizer)
    return len(set(tokens)) / len(tokens) if tokens else 1.0


def is_collapsed(text: str, config: AttackConfig = AttackConfig(),
                 tokenizer=None) -> bool:
    """True when a generation repeats too many n-grams or has too few distinct tokens.

    Texts under 2n tokens are too short to judge and count as not collapsed (an
    empty answer is reported separately, as `empty`).
    """
    if len(units(text, tokenizer)) < 2 * config.ngram:
        return False
    return (repeated_ngram_rate(text, config.ngram, tokenizer) > config.max_repeat
            or distinct_ratio(text, tokenizer) < config.min_distinct)


def collapse_terms(generations: list[str], config: AttackConfig = AttackConfig(),
                   tokenizer=None):
    """Means over generations: repeated n-gram rate, distinct ratio, shares collapsed
    and empty (no word at all); tokens of `tokenizer` if given, else words."""
    if not generations:
        return {"repeated_ngrams": np.nan, "distinct": np.nan, "collapsed": np.nan,
                "empty": np.nan}
    t = tokenizer
    return {"repeated_ngrams": float(np.mean([repeated_ngram_rate(g, config.ngram, t)
                                              for g in generations])),
            "distinct": float(np.mean([distinct_ratio(g, t) for g in generations])),
            "collapsed": float(np.mean([is_collapsed(g, config, t)
                                        for g in generations])),
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
                         **collapse_terms(outputs, config, tokenizer),
                         "perplexity": ppl})
    return pd.DataFrame(rows)


def overshoot(model, tokenizer, benchmark, profile):
    """A copy of `model` pushed too far: gradient ascent on all blocks with no stop.

    profile.attack.overshoot times the unlearning budget, no regurgitation target
    and no divergence guard: what a collapsed model looks like, for the detector.
    """
    from .config import with_overrides
    from .pipeline import method_config
    from .train import negative_finetune

    net = copy.deepcopy(model)
    config = with_overrides(method_config(profile, "gradient_ascent"),
                            stop_regurgitation=None, divergence_factor=float("inf"),
                            steps=profile.unlearn.steps * profile.attack.overshoot)
    negative_finetune(net, tokenizer, training_texts(benchmark["forget_train"]),
                      training_texts(benchmark["retain_train"]), config, progress=False)
    return net
