"""The collapse detector flags degenerate text and passes ordinary text."""

import pytest

from companion import collapse
from companion.config import AttackConfig

ORDINARY = ("The baker of Amberton rises before dawn, lights the oven and sells "
            "bread to the miners on their way to the east shaft.")


def test_repeated_ngram_rate_and_distinct_ratio_by_hand():
    assert collapse.repeated_ngram_rate("a a a a", 3) == pytest.approx(0.5)
    assert collapse.repeated_ngram_rate("a a a a a a", 2) == pytest.approx(0.8)
    assert collapse.repeated_ngram_rate("a b c a b c", 3) == pytest.approx(0.25)
    assert collapse.repeated_ngram_rate("too short", 3) == 0.0
    assert collapse.distinct_ratio("a a a a") == pytest.approx(0.25)
    assert collapse.distinct_ratio("A b, a.") == pytest.approx(4 / 5)  # a b , a .
    assert collapse.distinct_ratio("") == 1.0


def test_flags_a_a_a_a_and_passes_ordinary_text():
    assert collapse.is_collapsed("a a a a a a a a")
    assert collapse.is_collapsed("the the the the the the the the the the")
    assert collapse.is_collapsed("I do not know. " * 6)
    assert not collapse.is_collapsed(ORDINARY)
    assert not collapse.is_collapsed("")  # empty is reported apart, as `empty`
    terms = collapse.collapse_terms(["a a a a a a a a", ORDINARY, "", ORDINARY])
    assert terms["collapsed"] == 0.25 and terms["empty"] == 0.25


def test_thresholds_come_from_the_config():
    strict = AttackConfig(min_distinct=0.95)
    assert not collapse.is_collapsed(ORDINARY)
    assert collapse.is_collapsed(ORDINARY, strict)  # "the", "to" and "," repeat


def test_with_the_models_tokens_a_run_of_one_character_is_collapse():
    from companion.models import course_tokenizer

    tokenizer = course_tokenizer()
    zeros = "0" * 48  # one "word", but the same token over and over
    assert not collapse.is_collapsed(zeros)
    assert collapse.is_collapsed(zeros, tokenizer=tokenizer)
    assert not collapse.is_collapsed(ORDINARY, tokenizer=tokenizer)
    terms = collapse.collapse_terms([zeros, ORDINARY], tokenizer=tokenizer)
    assert terms["collapsed"] == 0.5
