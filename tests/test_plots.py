"""Every figure returns a Figure with labelled axes and writes a PNG."""

import matplotlib

matplotlib.use("Agg")  # tests draw to files only

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from companion import plots  # noqa: E402
from companion.config import CourseError  # noqa: E402
from companion.evaluate import task_scores  # noqa: E402
from companion.results import Evaluation, results_table  # noqa: E402


def _stage(forget: float, retain: float) -> Evaluation:
    """An evaluation whose raw means are `forget` / `retain` scaled per task."""
    records = [{"split": s, "task": t, "kind": k,
                "score": (forget if s == "forget" else retain) * (0.6 + 0.2 * i)}
               for s in ("forget", "retain") for i, t in enumerate(("Task1", "Task2"))
               for k in ("sc", "qa")]
    return Evaluation("stage", 0.4, 0.5, 0.7, 0.6, 0.5, 20.0, forget, None, retain,
                      None, task=task_scores(records))


@pytest.fixture(scope="module")
def table():
    ga = {"stages": {"baseline": _stage(0.9, 0.9), "unlearned": _stage(0.1, 0.3)}}
    seq = {"stages": {"baseline": _stage(0.9, 0.9), "stabilised": _stage(0.85, 0.9),
                      "sequential": _stage(0.15, 0.7)}}
    return results_table({"gradient_ascent": ga, "sequential": seq})


def _check(fig, path):
    assert isinstance(fig, Figure)
    assert path.exists() and path.stat().st_size > 5_000
    main = fig.axes[0]
    assert main.get_title() and (main.get_xlabel() or main.get_ylabel())
    matplotlib.pyplot.close(fig)


def test_tradeoff_annotates_every_stage(table, tmp_path):
    fig = plots.tradeoff(table, save=tmp_path / "tradeoff.png")
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert labels == {"baseline", "unlearned", "stabilised", "sequential"}
    assert "forget regurgitation" in fig.axes[0].get_xlabel()
    _check(fig, tmp_path / "tradeoff.png")


def test_tradeoff_draws_the_oracle_as_the_target(tmp_path):
    with_oracle = results_table({
        "oracle": {"stages": {"oracle": _stage(0.35, 0.95)}},
        "sequential": {"stages": {"baseline": _stage(0.9, 0.9),
                                  "sequential": _stage(0.3, 0.6)}}})
    fig = plots.tradeoff(with_oracle, save=tmp_path / "oracle.png")
    ax = fig.axes[0]
    star = [c for c in ax.collections if c.get_label().startswith("oracle")]
    assert len(star) == 1 and tuple(star[0].get_offsets()[0]) == (0.35, 0.95)
    assert "oracle" in ax.get_title()
    assert "oracle" not in {t.get_text() for t in ax.texts}  # a target, not a path
    _check(fig, tmp_path / "oracle.png")


def test_task_bars_one_panel_per_kind(tmp_path):
    fig = plots.task_bars(_stage(0.15, 0.7), save=tmp_path / "tasks.png")
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) >= 4  # 2 tasks x 2 splits
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches
                     if p.get_height() > 0)
    assert heights == [0.09, 0.12, 0.42, 0.56]  # the raw means, not the terms
    _check(fig, tmp_path / "tasks.png")
    long = results_table({"sequential": {"stages": {"sequential": _stage(0.1, 0.7)}}})
    with pytest.raises(CourseError, match="needs an Evaluation"):
        plots.task_bars(long)  # a long results table is not one stage's terms


def test_loss_curves_of_one_and_several_runs(tmp_path):
    history = [{"step": s, "loss": 3 / (s + 1), "retain_loss": 2.0, "lr": 1e-3,
                "phase": "x"}
               for s in range(0, 50, 5)]
    fig = plots.loss_curves(history, save=tmp_path / "loss.png")
    legend = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert legend == {"loss", "retain_loss"}  # losses only: lr and "phase" left out
    assert fig.axes[0].get_ylabel() == "loss (nats per token)"
    assert fig.axes[0].get_title() == "Training loss"
    _check(fig, tmp_path / "loss.png")
    fig = plots.loss_curves({"a": history, "b": history}, logy=True,
                            save=tmp_path / "loss2.png")
    assert fig.axes[0].get_yscale() == "log"
    _check(fig, tmp_path / "loss2.png")
    fig = plots.loss_curves(history, terms=["lr"], save=tmp_path / "lr.png")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["lr"]
    assert fig.axes[0].get_ylabel() == "lr"  # not a loss: the axis names the term
    _check(fig, tmp_path / "lr.png")
    with pytest.raises(CourseError):
        plots.loss_curves([{"loss": 1.0}])


def test_mia_distributions(tmp_path):
    rng = np.random.default_rng(0)
    fig = plots.mia_distributions(rng.normal(1, 0.3, 40), rng.normal(2, 0.3, 40),
                                  {"auc": 0.98, "score": 0.04}, save=tmp_path / "mia.png")
    assert "AUC 0.98" in fig.axes[0].get_title()
    _check(fig, tmp_path / "mia.png")


def test_heatmap_of_a_layer_ablation(tmp_path):
    rows = [{"trainable": t, "score": s, "value": v}
            for t, v0 in (("last:1", 0.2), ("last:2", 0.4), ("all", 0.8))
            for s, v in (("forget", v0), ("retain", 1 - v0))]
    fig = plots.heatmap(rows, index="trainable", columns="score", values="value",
                        save=tmp_path / "heat.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0.40" in texts and len(texts) == 6
    _check(fig, tmp_path / "heat.png")


def test_seed_plot_says_when_there_is_no_spread(tmp_path):
    import pandas as pd

    rows = [{"model": m, "seed": s, "method": "sequential", "stage": st,
             "term": t, "value": v + s / 10}
            for m in ("big", "small") for s in (0, 1) for st in ("baseline", "sequential")
            for t, v in (("forget_regurgitation", 0.5), ("retain_regurgitation", 0.9),
                         ("utility", 0.7), ("final_score", 0.4))]
    table = pd.DataFrame(rows)
    terms = ["forget_regurgitation", "retain_regurgitation"]
    two = plots.seed_plot(table, terms=terms, save=tmp_path / "two.png")
    one = plots.seed_plot(table[table["seed"] == 0], terms=terms,
                          save=tmp_path / "one.png")
    assert two._suptitle.get_text() == "Mean ± std over 2 seeds"
    assert "One seed" in one._suptitle.get_text()
