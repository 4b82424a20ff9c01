"""Interactive views of the lesson: a model probe and a forgetting slider.

Each widget has a plain function underneath that does the work and is tested
(`probe_completions`, `forgetting_trajectory`); the widget only shows its
result. Every builder also prints its default content, so a headless run (CI,
nbconvert, a terminal) shows the numbers too.
"""

from __future__ import annotations

import copy
import html
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from . import evaluate, generation
from .config import EvalConfig, UnlearnConfig
from .data import is_sc, training_texts
from .train import negative_finetune

TRAJECTORY_COLUMNS = ["step", "forget_regurgitation", "retain_regurgitation",
                      "forget_loss", "retain_loss", "sample"]


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


def print_completions(prompt: str, completions: dict[str, str]) -> None:
    """The probe's table as plain text."""
    print(f"prompt: {prompt!r}")
    width = max(map(len, completions))
    for name, text in completions.items():
        print(f"  {name:<{width}}  {text}")


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
    print_completions(prompt, update())  # the default prompt, for headless runs
    box = widgets.VBox([widgets.HBox([text, button]), table])
    display(box)
    return box


# ---------------------------------------------------------------- the forgetting slider
def forgetting_trajectory(model, tokenizer, forget, retain, config: UnlearnConfig,
                          every: int = 5, eval_config: EvalConfig | None = None,
                          stop_at_target: bool = False, seed: int = 0) -> pd.DataFrame:
    """Scores every `every` steps of negative fine-tuning a copy of `model`.

    `forget`, `retain`: item datasets (id, input, output, ...). The copy is
    unlearned with `config` (its method and trainable blocks) in one run; the
    guard's checks, every `every` steps, measure forget/retain loss and, through
    the monitor, forget/retain regurgitation and one forget item's completion.
    Without `stop_at_target` the run goes on to `config.steps` (the whole curve).
    The original model does not change. The table's attrs["stopped"] says why it ended.
    """
    eval_config = eval_config or EvalConfig()
    model = copy.deepcopy(model)
    if not stop_at_target:  # the whole curve: no stopping at the forget target
        config = replace(config, stop_regurgitation=None, stop_forget_loss=None)
    config = replace(config, check_every=every)
    sample = next(row for row in forget if is_sc(row["id"]))
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
                               training_texts(retain), config, monitor=monitor,
                               seed=seed, progress=False)
    rows = [{"step": c["step"], "forget_regurgitation": c["regurgitation"],
             "retain_regurgitation": e["retain_regurgitation"],
             "forget_loss": c["forget_loss"], "retain_loss": c["retain_loss"],
             "sample": e["sample"]} for c, e in zip(result.checks, extra)]
    table = pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)
    table.attrs["stopped"] = result.stopped
    table.attrs["prompt"] = sample["input"]
    return table


def _describe_row(row) -> str:
    return (f"step {int(row['step'])}: forget regurgitation "
            f"{row['forget_regurgitation']:.3f}, retain regurgitation "
            f"{row['retain_regurgitation']:.3f}, forget loss {row['forget_loss']:.3f}, "
            f"retain loss {row['retain_loss']:.3f}\n  completion: {row['sample']!r}")


def _plot_upto(trajectory: pd.DataFrame, step: int):
    """Forget and retain regurgitation against step, a marker at `step`."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for column, label in (("forget_regurgitation", "forget"),
                          ("retain_regurgitation", "retain")):
        ax.plot(trajectory["step"], trajectory[column], marker="o", label=label)
    ax.axvline(step, color="grey", linestyle="--")
    ax.set(xlabel="negative fine-tuning step", ylabel="ROUGE-L recall",
           ylim=(-0.05, 1.05))
    ax.legend()
    return fig


def forgetting_slider(trajectory: pd.DataFrame) -> widgets.VBox:
    """An IntSlider over the trajectory's steps: the scores and completion at each."""
    steps = trajectory["step"].astype(int).tolist()
    print(trajectory.drop(columns="sample").round(3).to_string(index=False))
    if "prompt" in trajectory.attrs:
        print(f"completions of {trajectory.attrs['prompt']!r}:")
    for _, row in trajectory.iterrows():
        print(f"  step {int(row['step'])}: {row['sample']!r}")
    gap = steps[1] - steps[0] if len(steps) > 1 else 1
    slider = widgets.IntSlider(value=steps[-1], min=steps[0], max=steps[-1], step=gap,
                               description="step", continuous_update=False)
    view = widgets.Output()

    def show(change=None):
        step = min(steps, key=lambda s: abs(s - slider.value))  # the nearest check
        row = trajectory[trajectory["step"] == step].iloc[0]
        view.clear_output(wait=True)
        with view:
            print(_describe_row(row))
            fig = _plot_upto(trajectory, step)
            display(fig)
            plt.close(fig)

    slider.observe(show, names="value")
    show()
    box = widgets.VBox([slider, view])
    display(box)
    return box
