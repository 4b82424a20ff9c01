"""The closing table: each attack's result beyond the oracle's."""

import pandas as pd
import pytest

from companion import robustness
from companion.config import CourseError


def tables():
    gap = pd.DataFrame({"seq": [0.3, 0.1]}, index=["loss", "min_k"])
    quantised = pd.concat({
        "seq": pd.DataFrame({"bits": ["float", 8, 4],
                             "forget_regurgitation": [0.2, 0.25, 0.5]}),
        "oracle": pd.DataFrame({"bits": ["float", 8, 4],
                                "forget_regurgitation": [0.1, 0.1, 0.2]})},
        names=["model"])
    gains = pd.DataFrame({"gain": [0.4, 0.1, 0.05, 0.0]},
                         index=pd.MultiIndex.from_tuples(
                             [("seq", "forget"), ("seq", "retain"),
                              ("oracle", "forget"), ("oracle", "retain")]))
    return gap, quantised, gains


def test_every_attack_is_read_against_the_oracle():
    table = robustness.beyond_oracle(*tables(), ["seq"], bits=(8, 4))["seq"]
    assert table["MIA loss: |AUC-0.5| over oracle"] == pytest.approx(0.3)
    assert table["8-bit: forget regurgitation gain over oracle"] == pytest.approx(0.05)
    assert table["4-bit: forget regurgitation gain over oracle"] == pytest.approx(0.2)
    assert table["relearning on forget: gain over oracle"] == pytest.approx(0.35)
    assert table["relearning on retain: gain over oracle"] == pytest.approx(0.1)


def test_without_the_oracle_it_says_so():
    gap, quantised, gains = tables()
    with pytest.raises(CourseError, match="oracle"):
        robustness.beyond_oracle(gap, quantised.loc[["seq"]], gains, ["seq"])
