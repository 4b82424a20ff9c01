"""The course's stages in one table: what each starts from, how it is built, who makes it.

Every stage is saved in its own folder, runs/<profile>/<model>/<stage>/ (see
companion.checkpoints). The pipeline, the studies, the command line and the
"missing checkpoint" messages all read this table, so a new stage is one row.

    baseline      a fresh preset (or pretrained GPT-2) fine-tuned on forget + retain
    oracle        the baseline's recipe on everything *but* the forget set: exact
                  unlearning, the reference every approximate method is judged by
    stabilised    baseline   -> positive fine-tuning on the retain set
    sequential    stabilised -> layer-restricted negative fine-tuning (the paper)
    gradient_ascent, gradient_difference, kl, npo
                  baseline   -> the method on all blocks: the comparison baselines
    ascent_unstabilised  baseline   -> sequential's ascent without stabilising first
    stabilised_all_blocks stabilised -> sequential's ascent on every block
                  (the two controls of the method's own claims)
    sequential_npo, sequential_per_document, sequential_chunked
                  stabilised -> sequential with a bounded loss (NPO), with each
                  forget text's ascent stopped at the never-seen level, or with the
                  forget set unlearnt chunk by chunk mixed with retain data (VARIANTS)
    request-1..n  baseline   -> erasure requests one after another, each one
                                stabilised then sequentially unlearnt
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import PROJECT_ROOT, CourseError

# the field's methods, each on all blocks from the baseline (the comparison)
BASELINE_METHODS = ("gradient_ascent", "gradient_difference", "kl", "npo")
N_REQUESTS = 3  # erasure requests in notebook 06 and `train request-k`
PROJECT_NOTEBOOKS = PROJECT_ROOT / "notebooks"
REQUEST = re.compile(r"request-(\d+)")


@dataclass(frozen=True)
class Stage:
    """One row of the table."""

    name: str
    after: str | None  # the stage it starts from; None: a fresh or pretrained model
    build: str  # "baseline" | "oracle" | "stabilise" | "unlearn" | "requests"
    notebook: str  # the notebook that makes it (file name in notebooks/)
    method: str | None = None  # unlearning method (a name in companion.methods)
    trainable: str | None = None  # blocks that move; None: the profile's choice


_NB = {"01": "01_baseline_finetuning.ipynb", "02": "02_retain_stabilisation.ipynb",
       "03": "03_negative_finetuning.ipynb", "04": "04_evaluation.ipynb",
       "06": "06_sequential_requests.ipynb"}

_ROWS = [
    Stage("baseline", None, "baseline", _NB["01"]),
    Stage("oracle", None, "oracle", _NB["04"]),
    Stage("stabilised", "baseline", "stabilise", _NB["02"]),
    Stage("sequential", "stabilised", "unlearn", _NB["03"], "gradient_ascent"),
    *(Stage(name, "baseline", "unlearn", _NB["03"], name, "all")
      for name in BASELINE_METHODS),
    Stage("ascent_unstabilised", "baseline", "unlearn", _NB["04"], "gradient_ascent"),
    Stage("stabilised_all_blocks", "stabilised", "unlearn", _NB["04"],
          "gradient_ascent", "all"),
    Stage("sequential_npo", "stabilised", "unlearn", _NB["04"], "npo"),
    Stage("sequential_per_document", "stabilised", "unlearn", _NB["04"],
          "per_document_ascent"),
    Stage("sequential_chunked", "stabilised", "unlearn", _NB["04"], "chunked_difference"),
]
STAGES: dict[str, Stage] = {row.name: row for row in _ROWS}
METHOD_STAGES = ("sequential", *BASELINE_METHODS)  # the paper's method + the baselines
CONTROLS = ("ascent_unstabilised", "stabilised_all_blocks")
VARIANTS = ("sequential_npo", "sequential_per_document", "sequential_chunked")
UNLEARN_STAGES = tuple(row.name for row in _ROWS if row.build == "unlearn")


def request_number(stage: str) -> int | None:
    """k for "request-k", else None."""
    match = REQUEST.fullmatch(stage)
    return int(match[1]) if match else None


def stage(name: str) -> Stage:
    """The row of `name` (request-k included), or a CourseError listing the names."""
    if name in STAGES:
        return STAGES[name]
    if request_number(name) is not None:
        return Stage(name, "baseline", "requests", _NB["06"])
    raise CourseError(f"unknown stage {name!r}: choose one of {', '.join(STAGES)}, "
                      f"or request-1..request-{N_REQUESTS}{loss_hint(name)}")


def loss_hint(name: str) -> str:
    """Where `name` is a loss, not a stage: a pointer to the stage that uses it."""
    users = [row.name for row in _ROWS if row.method == name]
    return (f"; {name} is a loss (companion.methods): its stage is {users[0]}"
            if users else "")


def path_to(name: str, intermediate: bool = True) -> list[str]:
    """The stages from the first to `name`: sequential -> baseline, stabilised, sequential.

    intermediate=False keeps the first and the last only.
    """
    chain = [name]
    while (before := stage(chain[0]).after) is not None:
        chain.insert(0, before)
    return chain if intermediate else list(dict.fromkeys([chain[0], chain[-1]]))


def notebook_for(name: str) -> str:
    """The notebook that makes `name`, as a path from the project root."""
    return f"notebooks/{stage(name).notebook}"
