"""Relearning attack: does a little fine-tuning bring forgotten documents back?

An attacker who holds some of the forgotten documents fine-tunes a copy of the
unlearned model on them for a fixed budget (AttackConfig.relearn) and then asks
it about the *other* forgotten documents, which it never trains on. If those come
back (regurgitation up, membership signal up) the unlearning only hid them
(Hu et al. 2024, "Jogging the memory of unlearned LLMs through targeted
relearning attacks", arXiv 2406.13356; Lynch et al. 2024, arXiv 2402.16835).
The same budget is spent, separately, on the retain set alone: benign
fine-tuning a deployed model may well receive.

References: the oracle (never saw the forget set: whatever it gains is what the
attack documents teach by themselves) and the baseline; positive control: a
model unlearned by plain gradient ascent, on which the attack must recover
something, or its budget is too small to mean anything.
"""

from __future__ import annotations

import copy
import random

import pandas as pd
from datasets import Dataset

from .config import AttackConfig, CourseError, EvalConfig
from .runtime import set_seed
from .data import document_id, documents, training_texts
from .evaluate import forget_regurgitation
from .membership import mia_score
from .textloss import document_losses
from .plots import finish, plt, sns
from .train import language_model_loss, make_batches, stop_on_nonfinite, train_loop

SOURCES = ("forget", "retain")  # what the attacker fine-tunes on


def split_forget(forget: Dataset, fraction: float,
                 seed: int = 0) -> tuple[Dataset, Dataset]:
    """(attack, measured): the forget items cut by whole documents, shuffled by seed.

    The attacker trains on `fraction` of the documents (at least one) and the
    curve is measured on all the others (at least one); no document is in both.
    """
    docs = sorted(set(map(document_id, forget["id"])))
    if len(docs) < 2:
        raise CourseError(f"the forget set has {len(docs)} document(s): relearning "
                          "needs two, one to train on and one to measure")
    random.Random(seed).shuffle(docs)
    n = min(max(1, round(fraction * len(docs))), len(docs) - 1)
    attack = set(docs[:n])
    home = [document_id(i) in attack for i in forget["id"]]
    return (forget.select([i for i, a in enumerate(home) if a]),
            forget.select([i for i, a in enumerate(home) if not a]))


def attack_texts(benchmark, attack: Dataset, source: str) -> list[str]:
    """What the attacker fine-tunes on: the attack documents' items, or the retain set."""
    if source == "forget":
        return training_texts(attack)
    if source == "retain":
        return training_texts(benchmark["retain_train"])
    raise CourseError(f"unknown relearning source {source!r}: choose one of "
                      f"{', '.join(SOURCES)}")


def _check_unseen(texts: list[str], measured: Dataset) -> None:
    """Refuse to train on any text of a measured document (the attack's whole point)."""
    held = set(training_texts(measured)) | set(documents(measured)["document"])
    if held & set(texts):
        raise CourseError("the relearning texts contain measured forget documents: "
                          "the attack must be measured on documents it never trains on")


def measure(model, tokenizer, measured: Dataset, nonmembers: list[str],
            eval_config: EvalConfig) -> dict:
    """Regurgitation of the measured documents and their LOSS-MIA AUC vs non-members."""
    size = eval_config.batch_size
    losses = document_losses(model, tokenizer, list(documents(measured)["document"]),
                             batch_size=size)
    nonmember = document_losses(model, tokenizer, nonmembers, batch_size=size)
    return {"regurgitation": forget_regurgitation(model, tokenizer, measured,
                                                  eval_config),
            "mia_auc": mia_score(losses, nonmember)["auc"]}


def relearning_curve(model, tokenizer, benchmark, config: AttackConfig,
                     eval_config: EvalConfig, *, source: str = "forget",
                     seed: int = 0) -> pd.DataFrame:
    """Fine-tune a copy of `model` on `source` for config.relearn.steps steps.

    Returns one row per measurement (step 0, then every config.measure_every
    steps): step, regurgitation of the measured forget documents (ROUGE-L recall
    of their sc items) and mia_auc (official LOSS statistic, measured documents
    vs forget_validation). `model` itself is left unchanged.
    """
    attack, measured = split_forget(benchmark["forget_train"], config.relearn_fraction,
                                    seed)
    texts = attack_texts(benchmark, attack, source)
    _check_unseen(texts, measured)
    nonmembers = list(documents(benchmark["forget_validation"])["document"])
    copy_ = copy.deepcopy(model)
    rows = [{"step": 0, **measure(copy_, tokenizer, measured, nonmembers, eval_config)}]

    def guard(step: int, record: dict):
        if step % config.measure_every == 0 or step == config.relearn.steps:
            rows.append({"step": step, **measure(copy_, tokenizer, measured,
                                                 nonmembers, eval_config)})
        return stop_on_nonfinite(step, record)

    set_seed(seed)
    batches = make_batches(tokenizer, texts, config.relearn.batch_size,
                           config.relearn.max_length, seed)
    train_loop(copy_, language_model_loss, batches, config.relearn, guard=guard,
               progress=False, desc=f"relearning ({source})")
    return pd.DataFrame(rows).assign(source=source)


def relearning_curves(models: dict, tokenizer, benchmark, config: AttackConfig,
                      eval_config: EvalConfig, *, sources=SOURCES,
                      seed: int = 0) -> pd.DataFrame:
    """relearning_curve of every named model and source, in one tidy table."""
    return pd.concat([relearning_curve(model, tokenizer, benchmark, config,
                                       eval_config, source=source,
                                       seed=seed).assign(model=name)
                      for name, model in models.items() for source in sources],
                     ignore_index=True)


def recovered(curves: pd.DataFrame, term: str = "regurgitation") -> pd.DataFrame:
    """Per model and source: `term` before the attack, at its end, its peak, and
    the gain (peak - before): what the attacker can get back within the budget."""
    runs = curves.groupby(["model", "source"], sort=False)[term]  # rows in step order
    table = pd.DataFrame({"before": runs.first(), "after": runs.last(),
                          "peak": runs.max()})
    return table.assign(gain=table["peak"] - table["before"])


def relearning_plot(curves: pd.DataFrame, save=None) -> plt.Figure:
    """Regurgitation and MIA AUC of the measured documents over attack steps."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = {"regurgitation": ("regurgitation", "ROUGE-L recall"),
              "mia_auc": ("membership inference", "MIA AUC")}  # term: (title, y-label)
    for ax, (term, (title, label)) in zip(axes, panels.items()):
        sns.lineplot(data=curves, x="step", y=term, hue="model", style="source",
                     markers=True, ax=ax, legend=term == "mia_auc")
        ax.set(title=title, xlabel="relearning steps", ylabel=label)
    fig.suptitle("Held-back forget documents (not in the attack's training set)")
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1))
    return finish(fig, save)
