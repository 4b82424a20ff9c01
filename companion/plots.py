"""Figures of the course: each function returns a matplotlib Figure, `save` writes a PNG.

They read the tidy table of `companion.results.results_table` or a study (columns
method, stage, term, value), one stage's Evaluation (companion.results), a
training history (a list of dicts with `step` and losses), or plain arrays, so a
notebook cell is one call.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import matplotlib

if (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
        and "ipykernel" not in sys.modules and "MPLBACKEND" not in os.environ):
    matplotlib.use("Agg")  # headless (CI, a server): draw to files, never open a window

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import CourseError  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def finish(fig, save) -> plt.Figure:
    """Tidy the layout and write a PNG when `save` is a path.

    The PNG is written whole (a private file, then renamed), and its metadata
    records what it was drawn from: the id of every saved stage in the run folder
    (`<run>/figures/<name>.png`), so a figure can be traced to its checkpoints.
    """
    fig.tight_layout()
    if save is not None:
        save = Path(save)
        save.parent.mkdir(parents=True, exist_ok=True)
        tmp = save.with_name(f".{save.stem}.tmp-{os.getpid()}{save.suffix}")
        fig.savefig(tmp, dpi=120, bbox_inches="tight",
                    metadata={"Source": stage_ids(save.parent.parent)})
        os.replace(tmp, save)
    return fig


def stage_ids(root) -> str:
    """'baseline=<id> stabilised=<id> ...' of the complete stages in a run folder."""
    found = []
    for settings in sorted(Path(root).glob("*/settings.json")):
        try:
            saved = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append(f"{settings.parent.name}={saved.get('id') or saved.get('saved')}")
    return " ".join(found)


def _wide(table: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """One row per method x stage, one column per term, stages in table order."""
    rows = table[table["term"].isin(terms)]
    missing = set(terms) - set(rows["term"])
    if missing:
        raise CourseError(f"the results table lacks {sorted(missing)}: evaluate the "
                          "stages with companion.evaluate.evaluate_model first")
    wide = rows.pivot_table(index=["method", "stage"], columns="term", values="value",
                            sort=False).reset_index()
    return wide


def tradeoff(table: pd.DataFrame, x: str = "forget_regurgitation",
             y: str = "retain_regurgitation", save=None) -> plt.Figure:
    """Forget vs retain score of every stage and method, points joined in stage order.

    An "oracle" stage in the table (exact unlearning) is drawn as the target star,
    not as a method's path: the point every approximate method should reach.
    """
    wide = _wide(table, [x, y])
    oracle = wide[wide["stage"] == "oracle"]
    wide = wide[wide["stage"] != "oracle"]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    if not oracle.empty:
        ax.scatter(oracle[x].mean(), oracle[y].mean(), marker="*", s=320, c="gold",
                   edgecolors="black", zorder=5, label="oracle (exact unlearning)")
    sns.lineplot(data=wide, x=x, y=y, hue="method", sort=False, marker="o",
                 markersize=9, ax=ax, legend=wide["method"].nunique() > 1)
    placed: list[tuple[float, float]] = []
    for stage, px, py in dict.fromkeys(zip(wide["stage"], wide[x], wide[y])):
        # a label near one already placed goes a line lower, so names never overlap
        near = sum(abs(px - qx) < 0.12 and abs(py - qy) < 0.04 for qx, qy in placed)
        ax.annotate(stage, (px, py), fontsize=9, xytext=(6, 6 - 13 * near),
                    textcoords="offset points")
        placed.append((px, py))
    if not oracle.empty or wide["method"].nunique() > 1:
        ax.legend(loc="lower right")  # unlearning moves points up and left
    goal = "the oracle's star" if not oracle.empty else "top left"
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05),
           xlabel=f"{x.replace('_', ' ')} (lower = more forgotten)",
           ylabel=f"{y.replace('_', ' ')} (higher = more kept)",
           title=f"Forgetting vs keeping (goal: {goal})")
    return finish(fig, save)


def tradeoff_curves(curves: pd.DataFrame, oracle=None, save=None) -> plt.Figure:
    """Each method's path over its budget (curves.tradeoff_curves), oracle as the star.

    oracle: (forget regurgitation, retain regurgitation) of exact unlearning.
    """
    fig, ax = plt.subplots(figsize=(8.5, 5))
    rows = curves.assign(lr=curves["lr"].map(lambda v: f"lr {v:g}"))
    sns.lineplot(data=rows, x="forget_regurgitation", y="retain_regurgitation",
                 hue="method", style="lr", sort=False, marker="o", markersize=4,
                 estimator=None, ax=ax)
    if oracle is not None:
        ax.scatter(*oracle, marker="*", s=320, c="gold", edgecolors="black", zorder=5,
                   label="oracle (exact unlearning)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05),
           xlabel="forget regurgitation (lower = more forgotten)",
           ylabel="retain regurgitation (higher = more kept)",
           title="Trade-off over the budget (goal: the oracle's star)")
    return finish(fig, save)


def task_bars(result, save=None) -> plt.Figure:
    """Raw mean score per task and split, one panel per kind, for one stage.

    result: an Evaluation (study.evaluate_stage, evaluate.evaluate_model) or its
    `terms` table (columns split, task, kind, mean).
    """
    rows = getattr(result, "terms", result)
    if not isinstance(rows, pd.DataFrame) or rows.empty or "mean" not in rows:
        raise CourseError("task_bars needs an Evaluation (or its terms table): "
                          "evaluate a stage first")
    kinds = list(dict.fromkeys(rows["kind"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        sns.barplot(data=rows[rows["kind"] == kind], x="task", y="mean", hue="split",
                    hue_order=["forget", "retain"], ax=ax)
        for bars in ax.containers:
            ax.bar_label(bars, fmt="%.2f", fontsize=8)  # a zero bar is still read
        metric = "ROUGE-L recall" if kind == "regurgitation" else "exact match"
        ax.set(ylim=(0, 1.05), ylabel=f"mean {kind}", xlabel="",
               title=f"{kind} ({metric})")
        if ax is not axes[0][0]:
            ax.get_legend().remove()  # one legend is enough
    fig.suptitle(f"Per-task scores: {getattr(result, 'stage', 'one stage')}")
    return finish(fig, save)


def loss_curves(history, terms: list[str] | None = None, logy: bool = False,
                title: str = "Training loss", save=None) -> plt.Figure:
    """Logged numbers against the step, for one history (list of dicts) or {name: history}.

    `terms` picks the columns; by default every numeric column whose name has
    "loss" in it (a learning rate would squash the scale). A log scale drops
    negative values (gradient ascent's loss is negative). The y-axis says
    "loss (nats per token)" when every term is a loss, else names the terms.
    """
    runs = history if isinstance(history, dict) else {"": history}
    frames = []
    for name, rows in runs.items():
        frame = pd.DataFrame(list(rows))
        if frame.empty or "step" not in frame:
            raise CourseError("a training history needs rows with a 'step' and losses")
        numeric = [c for c in frame.select_dtypes("number").columns if c != "step"]
        chosen = terms or [c for c in numeric if "loss" in c] or numeric
        long = frame.melt(id_vars="step", value_vars=chosen, var_name="term")
        frames.append(long.assign(run=name))
    data = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(data=data, x="step", y="value", hue="term",
                 style="run" if len(runs) > 1 else None, ax=ax)
    names = list(dict.fromkeys(data["term"]))
    ylabel = ("loss (nats per token)" if all("loss" in n for n in names)
              else ", ".join(n.replace("_", " ") for n in names))
    ax.set(xlabel="optimiser step", title=title,
           ylabel=ylabel + (" (log scale)" if logy else ""))
    if logy:
        ax.set_yscale("log")
    return finish(fig, save)


def trajectory(table: pd.DataFrame, stop_step: int | None = None,
               target: float | None = None, step: int | None = None,
               save=None) -> plt.Figure:
    """Forget and retain regurgitation during negative fine-tuning (a trajectory table).

    `table`: rows of step, forget_regurgitation, retain_regurgitation (see
    companion.widgets.forgetting_trajectory). Marks the forget `target` (a
    horizontal line), the `stop_step` where the stage stops at it, and the
    `step` being looked at (a dot on each curve).
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    for column, label in (("forget_regurgitation", "forget set"),
                          ("retain_regurgitation", "retain set")):
        line, = ax.plot(table["step"], table[column], marker="o", markersize=4,
                        label=label)
        if step is not None:
            at = table[table["step"] == step][column]
            ax.plot([step] * len(at), at, "o", markersize=11, color=line.get_color(),
                    markerfacecolor="none", markeredgewidth=2)
    if target is not None:
        ax.axhline(target, color="black", linestyle=":", linewidth=1,
                   label=f"forget target ({target:g})")
    if stop_step is not None:
        ax.axvline(stop_step, color="crimson", linestyle="--", linewidth=1,
                   label=f"the stage stops (step {stop_step})")
    ax.set(xlabel="negative fine-tuning step (optimiser steps)",
           ylabel="regurgitation (ROUGE-L recall)", ylim=(-0.05, 1.05),
           title="Regurgitation during gradient ascent")
    ax.legend(fontsize=8, loc="best")
    return finish(fig, save)


def mia_distributions(member_losses, nonmember_losses, mia: dict | None = None,
                      save=None) -> plt.Figure:
    """Histograms (with KDE) of member and non-member document losses."""
    data = pd.DataFrame({"loss": list(member_losses) + list(nonmember_losses),
                         "documents": ["member (forget)"] * len(member_losses)
                         + ["non-member"] * len(nonmember_losses)})
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sns.histplot(data=data, x="loss", hue="documents", stat="density", kde=True,
                 common_norm=False, element="step", ax=ax)
    title = "Document losses: members vs non-members"
    if mia is not None:
        title += f"\nAUC {mia['auc']:.2f}, MIA score {mia['score']:.2f} (1 = alike)"
    ax.set(xlabel="mean token loss (nats)", title=title)
    return finish(fig, save)


def heatmap(rows, index: str, columns: str, values: str, *, fmt: str = ".2f",
            cmap: str = "viridis", title: str | None = None, save=None) -> plt.Figure:
    """A value over two factors, e.g. trainable blocks x forget/retain score."""
    frame = pd.DataFrame(rows)
    grid = frame.pivot_table(index=index, columns=columns, values=values, sort=False)
    fig, ax = plt.subplots(figsize=(1.6 * grid.shape[1] + 2.5, 0.6 * grid.shape[0] + 1.8))
    sns.heatmap(grid, annot=True, fmt=fmt, cmap=cmap, cbar_kws={"label": values}, ax=ax)
    ax.set(title=title or f"{values} by {index} and {columns}")
    return finish(fig, save)


# ---------------------------------------------------------------- studies
REQUEST_TERM = re.compile(r"request-(\d+)/regurgitation")  # study.run_requests
SEED_TERMS = ("forget_regurgitation", "retain_regurgitation", "utility", "final_score")


def seed_plot(table: pd.DataFrame, terms=SEED_TERMS, hue: str = "model",
              save=None) -> plt.Figure:
    """Each term over the stages, one line per `hue`; error bars: std over seeds.

    The title says how many seeds there are; with one there are no error bars.
    """
    # a baseline listed under several methods is one measurement: drawn once
    rows = (table.drop_duplicates(["model", "seed", "stage", "term"])
            if hue == "model" else table)
    fig, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3.8),
                             squeeze=False)
    for i, (ax, term) in enumerate(zip(axes[0], terms)):
        data = rows[rows["term"] == term]
        if data.empty:
            raise CourseError(f"no {term!r} in the table: evaluate the stages first")
        dodge = 0.25 if data[hue].nunique() > 1 else False  # seaborn needs 2 to dodge
        sns.pointplot(data=data, x="stage", y="value", hue=hue, errorbar="sd",
                      dodge=dodge, capsize=0.15, ax=ax, legend=i == 0)
        ax.set(title=term.replace("_", " "), xlabel="", ylabel="")
        ax.tick_params(axis="x", rotation=30)
    seeds = rows["seed"].nunique()
    fig.suptitle(f"Mean ± std over {seeds} seeds" if seeds > 1
                 else "One seed: single runs, no spread to show")
    return finish(fig, save)


def request_plot(table: pd.DataFrame, save=None) -> plt.Figure:
    """After each request: forget regurgitation of every request, retain and utility."""
    found = {t for t in table["term"] if REQUEST_TERM.fullmatch(t)}
    names = sorted(found, key=lambda t: int(REQUEST_TERM.fullmatch(t)[1]))
    if not names:
        raise CourseError("no request-k/regurgitation terms: pass run_requests' table")
    shown = {**{t: t.split("/")[0] + " (forget)" for t in names},
             "retain_regurgitation": "retain set", "utility": "utility"}
    rows = table[table["term"].isin(shown)].assign(score=lambda r: r["term"].map(shown))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(data=rows, x="stage", y="value", hue="score", style="score",
                 hue_order=list(shown.values()), markers=True, dashes=False,
                 sort=False, errorbar=None, ax=ax)
    ax.set(ylim=(-0.05, 1.05), xlabel="after", ylabel="regurgitation / accuracy",
           title="Erasure requests, one after another")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    return finish(fig, save)
