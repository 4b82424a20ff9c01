"""How much comes back: every attack's result on a model, relative to the oracle.

The oracle never saw the forget set, so whatever an attack finds on it is noise or
what other documents teach. This module puts the attacks of companion.attacks,
companion.quantise and companion.relearning side by side, each as what it gets
from a model *beyond* what it gets from the oracle (0 = no more than a model that
never saw the forgotten documents).
"""

from __future__ import annotations

import pandas as pd

from .config import CourseError
from .relearning import SOURCES


def rounding_gain(quantised: pd.DataFrame, name: str) -> pd.Series:
    """Forget regurgitation at each width minus at full precision (quantised_scores
    tables concatenated by model name)."""
    values = quantised.loc[name].set_index("bits")["forget_regurgitation"]
    return values - values["float"]


def beyond_oracle(gap: pd.DataFrame, quantised: pd.DataFrame, gains: pd.DataFrame,
                  names: list[str], bits=(8, 4)) -> pd.DataFrame:
    """One row per attack, one column per model in `names`.

    gap: attacks.over_oracle's table (MIA: extra |AUC - 0.5|); quantised:
    quantise.quantised_scores per model, concatenated with the model as first
    index level, the oracle included; gains: relearning.recovered's table
    (extra regurgitation gain of the relearning attack, per source).
    """
    if "oracle" not in quantised.index.get_level_values(0):
        raise CourseError("quantised has no 'oracle' rows: score the oracle too")
    oracle = rounding_gain(quantised, "oracle")
    columns = {}
    for name in names:
        rounded = rounding_gain(quantised, name)
        columns[name] = {
            **{f"MIA {a}: |AUC-0.5| over oracle": gap.loc[a, name] for a in gap.index},
            **{f"{b}-bit: forget regurgitation gain over oracle": rounded[b] - oracle[b]
               for b in bits},
            **{f"relearning on {s}: gain over oracle": gains.loc[(name, s), "gain"]
               - gains.loc[("oracle", s), "gain"] for s in SOURCES}}
    return pd.DataFrame(columns)
