"""Trade-off curves over a budget, and the comparison at matched forgetting."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from toy import write_toy

from companion import curves, plots
from companion.config import TrainConfig, UnlearnConfig, load_profile
from companion.pipeline import make_run


def test_matched_forgetting_interpolates_between_checks():
    table = pd.DataFrame({
        "method": ["a"] * 3 + ["b"] * 3, "lr": [1e-3] * 6, "step": [0, 5, 10] * 2,
        "forget_regurgitation": [0.9, 0.5, 0.1, 0.9, 0.8, 0.7],
        "retain_regurgitation": [1.0, 0.8, 0.2, 1.0, 0.9, 0.9]})
    matched = curves.at_matched_forgetting(table, 0.3).set_index("method")
    assert matched.loc["a", "retain_regurgitation"] == pytest.approx(0.5)  # halfway
    assert matched.loc["a", "step"] == 10
    assert np.isnan(matched.loc["b", "retain_regurgitation"])  # never forgot that much


def test_curves_run_the_whole_budget_for_every_method_and_rate(tmp_path):
    write_toy(tmp_path, "model")
    profile = replace(
        load_profile("smoke", verbose=False), data=str(tmp_path / "data"),
        max_docs_per_task=None,
        finetune=TrainConfig(steps=30, batch_size=8, lr=5e-3, max_length=32),
        stabilise=TrainConfig(steps=2, batch_size=4, lr=1e-3, max_length=32),
        unlearn=UnlearnConfig(steps=4, batch_size=4, max_length=32, check_every=2,
                              stop_regurgitation=0.99))  # would stop at once
    run = make_run(profile, str(tmp_path / "model"), out=tmp_path / "run",
                   progress=False)
    found = curves.tradeoff_curves(run, ["sequential", "npo"], [1e-3, 1e-2], every=2,
                                   oracle_losses=[3.0] * 6)
    assert list(found.columns) == curves.COLUMNS
    assert len(found) == 2 * 2 * 3  # checks at steps 0, 2, 4: no stop rule applied
    assert set(found["step"]) == {0, 2, 4}
    assert found["forget_quality"].between(0, 1).all()
    fig = plots.tradeoff_curves(found, oracle=(0.3, 0.9), save=tmp_path / "c.png")
    assert "oracle" in fig.axes[0].get_title() and (tmp_path / "c.png").exists()
