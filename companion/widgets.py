"""Interactive views of the lesson: a model probe and a forgetting slider.

Each widget has a plain function underneath that does the work and is tested
(`probe_completions`, `forgetting_trajectory`); the widget only shows its
result. A front end that runs widgets (JupyterLab, Colab, with a live kernel)
shows the widget alone; everywhere else (an executed copy opened without
running it, nbconvert, GitHub, a terminal) the same output falls back to a
static view of its opening state: a figure and a plain-text table.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import math
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, display

from . import evaluate, generation, plots
from .config import CourseError, EvalConfig, UnlearnConfig
from .data import is_sc, training_texts
from .guard import reached
from .train import negative_finetune

TRAJECTORY_COLUMNS = ["step", "forget_regurgitation", "retain_regurgitation",
                      "forget_loss", "retain_loss", "forget_doc_loss", "target_loss",
                      "sample"]


class ViewBox(widgets.VBox):
    """A VBox whose output also carries a static view (`fallback`: mime -> data).

    A widget front end renders the widget and ignores the rest; a front end
    without widgets (or an untrusted executed copy) shows the static view
    instead of the `VBox(children=...)` text.
    """

    def __init__(self, children, fallback: dict[str, str]):
        super().__init__(children)
        self.fallback = fallback

    def _repr_mimebundle_(self, **kwargs):
        parent = getattr(super(), "_repr_mimebundle_", None)
        if parent is None:  # ipywidgets 7 (Colab's): the view entry it would display
            bundle = {"application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.model_id}}
        else:
            bundle = parent(**kwargs) or {}
        return {**bundle, **self.fallback}

    def _ipython_display_(self, **kwargs):  # ipywidgets 7 displays through this
        display(self._repr_mimebundle_(), raw=True)

    def __repr__(self) -> str:  # a terminal prints this, not VBox(children=...)
        return self.fallback["text/plain"]


def _png(fig) -> str:
    """A figure as base64 PNG (the image/png of a display bundle); closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


# ---------------------------------------------------------------- the model probe
def probe_completions(models: dict, prompt: str,
                      max_new_tokens: int = 32) -> dict[str, str]:
    """{name: greedy completion of `prompt`} for each (model, tokenizer) in `models`."""
    return {name: generation.generate(model, tokenizer, [prompt], max_new_tokens,
                                    batch_size=1, progress=False)[0].strip()
            for name, (model, tokenizer) in models.items()}


def _html_table(prompt: str, completions: dict[str, str]) -> str:
    rows = "".join(f"<tr><td><b>{html.escape(name)}</b></td>"
                   f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
                   for name, text in completions.items())
    return (f"<p><i>{html.escape(prompt)}</i> ...</p><table>"
            f"<tr><th>model</th><th style='text-align:left'>completion</th></tr>"
            f"{rows}</table>")


def text_table(prompt: str, completions: dict[str, str]) -> str:
    """The probe's table as plain text."""
    width = max(map(len, completions))
    return "\n".join([f"prompt: {prompt!r}"] + [f"  {name:<{width}}  {text}"
                                                 for name, text in completions.items()])


def model_probe(models: dict, prompt: str, max_new_tokens: int = 32) -> widgets.VBox:
    """Type a prompt, press the button, read every model's completion side by side."""
    text = widgets.Text(value=prompt, description="prompt",
                        layout=widgets.Layout(width="90%"))
    button = widgets.Button(description="complete", button_style="primary")
    table = widgets.HTML()

    def update(_=None):
        completions = probe_completions(models, text.value, max_new_tokens)
        table.value = _html_table(text.value, completions)
        return completions

    button.on_click(update)
    text.continuous_update = False
    completions = update()  # the default prompt, shown at once
    box = ViewBox([widgets.HBox([text, button]), table],
                  {"text/plain": text_table(prompt, completions),
                   "text/html": _html_table(prompt, completions)})
    display(box)
    return box


# ---------------------------------------------------------------- the forgetting slider
def forgetting_trajectory(model, tokenizer, forget, retain, config: UnlearnConfig, *,
                          every: int = 5, eval_config: EvalConfig | None = None,
                          stop_at_target: bool = False, seed: int = 0,
                          calibration=None) -> pd.DataFrame:
    """Scores every `every` steps of negative fine-tuning a copy of `model`.

    `forget`, `retain`: item datasets (id, input, output, ...). The copy is
    unlearned with `config` (its method and trainable blocks) in one run; the
    guard's checks, every `every` steps, measure forget/retain loss and, through
    the monitor, forget/retain regurgitation and one forget item's completion.
    Without `stop_at_target` the run goes on to `config.steps` (the whole curve).
    The original model does not change. The table's attrs: "stopped" (why it
    ended), "prompt" (the sample's), "target" (config.stop_regurgitation) and
    "stop_step" (the first check at which the stage, run with `config`, would
    stop at its target; None if none) and, with a `calibration` (guard.Calibration:
    the columns forget_doc_loss and target_loss, else NaN), "calibrated_step": the
    first check where the forget documents are as likely as the target's.
    """
    eval_config = eval_config or EvalConfig()
    model = copy.deepcopy(model)
    rule = config  # the stage's own stopping rule (guard.reached)
    if not stop_at_target:  # the whole curve: no stopping at the forget target
        config = replace(config, stop_regurgitation=None, stop_forget_loss=None,
                         stop_rule="steps")
    config = replace(config, check_every=every)
    sample = next((row for row in forget if is_sc(row["id"])), None)
    if sample is None:
        raise CourseError("the forget set has no sentence-completion (sc) items to "
                          "monitor: pass forget items with ids ending in sc1")
    extra: list[dict] = []  # what the monitor sees at each check, in order

    def monitor(current) -> float:
        score = evaluate.forget_regurgitation(current, tokenizer, forget, eval_config)
        extra.append({
            "retain_regurgitation": evaluate.forget_regurgitation(
                current, tokenizer, retain, eval_config),
            "sample": generation.generate(current, tokenizer, [sample["input"]],
                                        eval_config.max_new_tokens, batch_size=1,
                                        progress=False)[0].strip()})
        return score

    result = negative_finetune(model, tokenizer, training_texts(forget),
                               training_texts(retain), config, monitor=monitor, seed=seed, progress=False,
                               calibration=calibration)
    rows = [{"step": c["step"], "forget_regurgitation": c["regurgitation"],
             "retain_regurgitation": e["retain_regurgitation"],
             "forget_loss": c["forget_loss"], "retain_loss": c["retain_loss"],
             "forget_doc_loss": c.get("forget_doc_loss", math.nan),
             "target_loss": c.get("target_loss", math.nan),
             "sample": e["sample"]} for c, e in zip(result.checks, extra)]
    table = pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)
    table.attrs["stopped"] = result.stopped
    table.attrs["prompt"] = sample["input"]
    table.attrs["target"] = rule.stop_regurgitation
    table.attrs["stop_step"] = next(  # the first check where the stage would stop
        (c["step"] for c in result.checks if reached(rule, c["step"], c)), None)
    table.attrs["calibrated_step"] = next(
        (c["step"] for c in result.checks
         if c.get("forget_doc_loss", -math.inf) >= c.get("target_loss", math.inf)), None)
    return table


def _describe_row(row) -> str:
    return (f"step {int(row['step'])}: forget regurgitation "
            f"{row['forget_regurgitation']:.3f}, retain regurgitation "
            f"{row['retain_regurgitation']:.3f}, forget loss {row['forget_loss']:.3f}, "
            f"retain loss {row['retain_loss']:.3f}\n  completion: {row['sample']!r}")


def forgetting_slider(trajectory: pd.DataFrame) -> widgets.VBox:
    """An IntSlider over the trajectory's steps: the scores and completion at each.

    It opens at the step where the stage stops (attrs["stop_step"], else the
    last); the figure marks that step and the forget target.
    """
    steps = trajectory["step"].astype(int).tolist()
    if not steps:
        raise CourseError("the trajectory has no checks: make `every` smaller than "
                          "the config's steps")
    stop, target = trajectory.attrs.get("stop_step"), trajectory.attrs.get("target")
    opening = stop if stop in steps else steps[-1]
    gap = steps[1] - steps[0] if len(steps) > 1 else 1
    slider = widgets.IntSlider(value=opening, min=steps[0], max=steps[-1], step=gap,
                               description="step", continuous_update=False)
    view = widgets.Output()

    def figure(step: int):
        return plots.trajectory(trajectory, stop, target, step)

    def show(change=None):
        step = min(steps, key=lambda s: abs(s - slider.value))  # the nearest check
        view.clear_output(wait=True)
        with view:
            print(_describe_row(trajectory[trajectory["step"] == step].iloc[0]))
            # a PNG, whatever matplotlib backend the kernel has
            display(Image(base64.b64decode(_png(figure(step)))))

    slider.observe(show, names="value")
    show()
    row = trajectory[trajectory["step"] == opening].iloc[0]
    note = f"(a static view at step {opening}: run the cell to move the slider)"
    box = ViewBox([slider, view], {"text/plain": f"{_describe_row(row)}\n{note}",
                                   "image/png": _png(figure(opening))})
    display(box)
    return box
