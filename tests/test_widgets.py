"""Widgets: the logic underneath (tiny model) and that the builders return widgets."""

import ipywidgets as widgets
import pandas as pd
import pytest
import torch

from companion.config import EvalConfig, UnlearnConfig
from companion.runtime import set_seed
from companion.data import load_benchmark
from companion.generation import generate
from companion.models import load_model
from companion.widgets import (TRAJECTORY_COLUMNS, forgetting_slider,
                               forgetting_trajectory, model_probe, probe_completions)

EVAL = EvalConfig(max_new_tokens=6, batch_size=8)


@pytest.fixture(scope="module")
def tiny():
    set_seed(0)
    return load_model("tiny-distilgpt2", device="cpu")


@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark("bundled", max_docs_per_task=1)


def test_probe_completes_the_prompt_with_each_model_greedily(tiny):
    set_seed(1)
    other = load_model("tiny-distilgpt2", device="cpu")
    models = {"a": tiny, "b": other}
    got = probe_completions(models, "The river Vel flows", max_new_tokens=5)
    assert list(got) == ["a", "b"] and all(isinstance(t, str) for t in got.values())
    alone = generate(*tiny, ["The river Vel flows"], 5, progress=False)[0].strip()
    assert got["a"] == alone
    assert got == probe_completions(models, "The river Vel flows", max_new_tokens=5)


def test_model_probe_returns_a_widget_with_a_static_fallback(tiny, capsys):
    box = model_probe({"baseline": tiny}, "Mara Olsen was born", max_new_tokens=4)
    assert isinstance(box, widgets.VBox)
    text, button = box.children[0].children
    assert isinstance(text, widgets.Text) and isinstance(button, widgets.Button)
    assert "baseline" in box.children[1].value  # the HTML table is filled in
    out = capsys.readouterr().out  # outside a kernel, display() prints the repr
    assert out.startswith("prompt: 'Mara Olsen was born'") and "VBox" not in out
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("prompt: 'Mara Olsen was born'")
    assert "VBox" not in bundle["text/plain"] and "<table>" in bundle["text/html"]
    text.value = "The river"
    button.click()
    assert "The river" in box.children[1].value


@pytest.fixture(scope="module")
def trajectory(tiny, benchmark):
    model, tokenizer = tiny
    config = UnlearnConfig(steps=4, batch_size=4, lr=3e-3, max_length=64,
                           trainable="last:1", stop_regurgitation=0.99)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    table = forgetting_trajectory(model, tokenizer, benchmark["forget_train"],
                                  benchmark["retain_train"], config, every=2,
                                  eval_config=EVAL)
    unchanged = all(torch.equal(before[n], p) for n, p in model.named_parameters())
    return table, unchanged


def test_trajectory_scores_every_k_steps_of_ascent_on_a_copy(trajectory):
    table, unchanged = trajectory
    assert unchanged, "the trajectory must train a copy, not the model passed in"
    assert list(table.columns) == TRAJECTORY_COLUMNS
    assert table["step"].tolist() == [0, 2, 4]  # the target (0.99) did not stop it
    assert table["forget_loss"].iloc[-1] > table["forget_loss"].iloc[0]  # ascent
    assert table[["forget_regurgitation", "retain_regurgitation"]].stack().between(
        0, 1).all()
    assert table["sample"].map(type).eq(str).all()
    assert table.attrs["stopped"] == "max steps"
    assert table.attrs["target"] == 0.99
    # the stage stops at the first check whose forget regurgitation is <= 0.99
    reached = table[table["forget_regurgitation"] <= 0.99]["step"]
    assert table.attrs["stop_step"] == (reached.iloc[0] if len(reached) else None)


def test_slider_spans_the_steps_and_opens_at_the_stop(trajectory, capsys):
    table, _ = trajectory
    table = table.copy()
    table.attrs.update(stop_step=2, target=0.5)
    box = forgetting_slider(table)
    slider = box.children[0]
    assert isinstance(box, widgets.VBox) and isinstance(slider, widgets.IntSlider)
    assert (slider.min, slider.max, slider.step, slider.value) == (0, 4, 2, 2)
    capsys.readouterr()
    slider.value = 4  # moving it redraws the row without an error
    assert "step 4: forget regurgitation" in capsys.readouterr().out
    bundle = box._repr_mimebundle_()
    assert bundle["text/plain"].startswith("step 2: forget regurgitation")
    assert len(bundle["image/png"]) > 1000  # the static view of the opening step
    table.attrs.update(stop_step=None)
    assert forgetting_slider(table).children[0].value == 4  # never stopped: the last


def test_the_trajectory_figure_marks_the_stop_and_the_target(trajectory):
    from companion import plots
    table, _ = trajectory
    fig = plots.trajectory(table, stop_step=2, target=0.5, step=4)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["forget set", "retain set", "forget target (0.5)",
                      "the stage stops (step 2)"]
    assert "step" in fig.axes[0].get_xlabel() and "ROUGE-L" in fig.axes[0].get_ylabel()


def test_slider_works_with_a_single_check():
    one = pd.DataFrame([{"step": 0, "forget_regurgitation": 0.9,
                         "retain_regurgitation": 0.8, "forget_loss": 0.1,
                         "retain_loss": 0.2, "sample": "x"}])
    assert forgetting_slider(one).children[0].max == 0


@pytest.mark.parametrize("level, step", [(-1.0, 0), (1e9, None)])
def test_trajectory_marks_where_the_calibrated_stop_would_be(tiny, benchmark, level,
                                                             step):
    from companion.data import documents
    from companion.guard import Calibration
    model, tokenizer = tiny
    config = UnlearnConfig(steps=2, batch_size=4, lr=3e-3, max_length=64,
                           trainable="last:1", stop_regurgitation=None)
    docs = list(documents(benchmark["forget_train"])["document"])
    table = forgetting_trajectory(model, tokenizer, benchmark["forget_train"],
                                  benchmark["retain_train"], config, every=2,
                                  eval_config=EVAL,
                                  calibration=Calibration(docs, level=level))
    assert table.attrs["calibrated_step"] == step
    assert (table["target_loss"] == level).all() and table["forget_doc_loss"].gt(0).all()
