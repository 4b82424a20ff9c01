"""Typed evaluation results: headline numbers, one tidy table of terms, reports on disk.

`evaluate.evaluate_model` returns an `Evaluation`: the numbers a lesson prints
(final score, task aggregate, MIA, utility, perplexity, regurgitation and
knowledge per split, the oracle-relative terms or why they are missing) and
`terms`, a DataFrame with one row per split x task x kind:

    split | task | kind | mean | term | count

`mean` is the raw mean score (what the model does), `term` what enters the
harmonic mean (forget inverted: 1 - mean), `count` the items behind it. A report
(report.json, study.json) stores `Evaluation.to_dict()`; `Evaluation.flat()` is the
one flat view, every number under a path name ("task/terms/forget/Task1/knowledge",
by pd.json_normalize), which `results_table` and the studies' long tables list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .config import CourseError
from .oracle import TERMS

TERM_COLUMNS = ["split", "task", "kind", "mean", "term", "count"]
HEADLINE = ("final_score", "task_aggregate", "mia_auc", "mia_score", "utility",
            "perplexity", "forget_regurgitation", "forget_knowledge",
            "retain_regurgitation", "retain_knowledge", "utility_relative")
ORACLE_TERMS = (*TERMS, "oracle_mia_auc")  # companion.oracle's terms of a stage


@dataclass(frozen=True, eq=False)
class TaskScores:
    """The official task aggregate and the terms it is the harmonic mean of."""

    task_aggregate: float  # harmonic mean of terms["term"]; 0 when one term is 0
    terms: pd.DataFrame  # TERM_COLUMNS, one row per split x task x kind present
    missing: tuple[str, ...] = ()  # "split/task/kind" of expected terms with no items
    zero_terms: tuple[str, ...] = ()  # the terms that make the aggregate 0

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    def to_dict(self) -> dict:
        return {"task_aggregate": self.task_aggregate,
                "terms": self.terms.to_dict("records"),
                "missing": list(self.missing), "zero_terms": list(self.zero_terms)}

    @classmethod
    def from_dict(cls, saved: dict) -> TaskScores:
        """From to_dict(), or from a report written before the typed results."""
        rows = saved["terms"]
        if isinstance(rows, dict):  # {"forget/Task1/regurgitation": term, ...}
            rows = [dict(zip(("split", "task", "kind"), key.split("/")),
                         mean=saved["means"][key], term=value,
                         count=saved.get("counts", {}).get(key))
                    for key, value in rows.items()]
        return cls(saved["task_aggregate"], pd.DataFrame(rows, columns=TERM_COLUMNS),
                   tuple(saved.get("missing", ())), tuple(saved.get("zero_terms", ())))

    def nested(self) -> dict:
        """{"n_terms": n, "terms": {split: {task: {kind: term}}}, "means": ..., ...}."""
        out: dict = {"n_terms": self.n_terms}
        for column, name in (("term", "terms"), ("mean", "means"), ("count", "counts")):
            for row in self.terms.itertuples():
                out.setdefault(name, {}).setdefault(row.split, {}).setdefault(
                    row.task, {})[row.kind] = getattr(row, column)
        return out


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One stage evaluated the official way (evaluate.evaluate_model)."""

    stage: str
    final_score: float  # mean(task_aggregate, mia_score, utility)
    task_aggregate: float  # harmonic mean of the split x task x kind terms
    mia_auc: float  # members (forget_train) vs non-members (forget_validation)
    mia_score: float  # 1 - 2|AUC - 0.5|: 1 when they look alike
    utility: float  # accuracy on general items
    perplexity: float  # on held-out general text
    forget_regurgitation: float | None  # raw means per split and kind (None: no items)
    forget_knowledge: float | None
    retain_regurgitation: float | None
    retain_knowledge: float | None
    task: TaskScores  # every term (task.terms) and what is missing
    oracle: dict = field(default_factory=dict)  # companion.oracle terms (None: missing)
    oracle_missing: str | None = None  # why the oracle-relative terms are missing
    utility_relative: float | None = None  # utility / the baseline's
    details: dict = field(default_factory=dict)  # utility variants, mia, seconds, ...
    validation: TaskScores | None = None  # the validation splits' terms, when asked
    mia_losses: dict | None = None  # per-document losses (mia-<stage>.json), not saved

    @property
    def terms(self) -> pd.DataFrame:
        """split | task | kind | mean | term | count: one row per term."""
        return self.task.terms

    @property
    def n_terms(self) -> int:
        return self.task.n_terms

    def to_dict(self) -> dict:
        """JSON-ready: the stage's entry in report.json (mia_losses left out).

        Headline numbers, oracle-relative terms and details sit side by side at
        the top, as report.json always laid them out; `task` holds the terms.
        """
        out = {"stage": self.stage, **{k: getattr(self, k) for k in HEADLINE},
               **self.oracle, "oracle_missing": self.oracle_missing, **self.details,
               "task": self.task.to_dict()}
        if self.validation is not None:
            out["task_validation"] = self.validation.to_dict()
        return out

    @classmethod
    def from_dict(cls, saved: dict) -> Evaluation:
        """From to_dict(), or a report.json stage written before the typed results."""
        if not isinstance(saved.get("task"), dict) or "final_score" not in saved:
            raise CourseError(f"stage {saved.get('stage')!r} of the report has no "
                              "evaluation terms: evaluate the stage again")
        held = saved.get("task_validation")
        taken = {"stage", *HEADLINE, *ORACLE_TERMS, "oracle_missing", "task",
                 "task_validation"}
        return cls(**{k: saved.get(k) for k in ("stage",) + HEADLINE},
                   task=TaskScores.from_dict(saved["task"]),
                   oracle={t: saved[t] for t in ORACLE_TERMS if t in saved},
                   oracle_missing=saved.get("oracle_missing"),
                   details={k: v for k, v in saved.items() if k not in taken},
                   validation=TaskScores.from_dict(held) if held else None)

    def flat(self) -> dict[str, float]:
        """Every number under a path name, by pd.json_normalize (strings, None left out)."""
        nested = {**{k: getattr(self, k) for k in HEADLINE}, **self.oracle,
                  **self.details, "task": self.task.nested()}
        if self.validation is not None:
            nested["task_validation"] = self.validation.nested()
        row = pd.json_normalize(nested, sep="/").iloc[0]
        return {k: float(v) for k, v in row.items()
                if pd.api.types.is_number(v) and not pd.api.types.is_bool(v)}

    def with_details(self, **details) -> Evaluation:
        return replace(self, details={**self.details, **details})


# ---------------------------------------------------------------- reports on disk
def read_report(out) -> dict:
    """The report.json of a run folder, or an empty report when there is none yet."""
    path = Path(out) / "report.json"
    if not path.exists():
        return {"settings": {}, "stages": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise CourseError(f"{path} is not valid JSON: delete it and evaluate "
                          "again") from None


def read_evaluations(out) -> dict[str, Evaluation]:
    """{stage: Evaluation} of a run folder's report.json (old reports included)."""
    return {stage: Evaluation.from_dict(saved)
            for stage, saved in read_report(out)["stages"].items()}


def results_table(reports) -> pd.DataFrame:
    """Tidy table (method, stage, term, value) of a report, its path or {method: report}.

    Each stage's rows are its Evaluation.flat() numbers. A report's stages may be
    saved dicts or Evaluations; a {method: report} value may also be a run folder.
    """
    if isinstance(reports, (str, Path)):
        reports = {Path(reports).name: read_report(reports)}
    elif "stages" in reports:
        reports = {reports.get("settings", {}).get("method", "run"): reports}
    rows = []
    for method, report in reports.items():
        if isinstance(report, (str, Path)):
            report = read_report(report)
        for stage, saved in report["stages"].items():
            if not isinstance(saved, Evaluation):
                saved = Evaluation.from_dict(saved)
            rows += [(method, stage, term, value) for term, value in saved.flat().items()]
    return pd.DataFrame(rows, columns=["method", "stage", "term", "value"])
