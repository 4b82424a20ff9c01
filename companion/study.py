"""Comparisons: methods, model sizes, seeds and erasure requests, scored into one table.

`run_study` gets (or trains) each model's baseline per seed, runs every unlearning
method with the same budget (pipeline.method_config: `sequential` stabilises, then
ascends on the profiled blocks; the other methods ascend on all blocks from the
baseline), evaluates every stage the official way (evaluate.evaluate_model) and
returns a tidy table

    model | seed | method | stage | term | value

in which each method lists the stages on its path (baseline -> ... -> method), so
plots.tradeoff draws one line per method. Every term is kept: the twelve
split x task x kind terms (task/terms/...; raw means under task/means/...), the
task aggregate, MIA AUC and score, utility (and relative to the baseline),
perplexity, the final score, and the optimiser steps a stage took (train_steps):
each stage's Evaluation.flat() (companion.results). `evaluate_stage` returns the
Evaluation itself: its numbers as attributes, its terms as a table.

Checkpoints live where the notebooks put them, runs/<profile>/<model>, for seed 0,
and in runs/<profile>/<model>/seed-<k> for other seeds. Evaluations are cached next
to them (study.json) and redone when a stage's checkpoint or the eval config changes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from . import checkpoints, locks
from .config import CourseError, Profile, load_profile, model_label, run_dir
from .data import document_id, load_general
from .evaluate import evaluate_model, load_general_knowledge
from .models import PRESETS
from .parallel import build_roots
from .pipeline import Run, make_run, split_requests, stage_settings
from .plots import request_plot, seed_plot  # noqa: F401  (the studies' figures)
from .results import Evaluation
from .stages import N_REQUESTS, STAGES, UNLEARN_STAGES, path_to, request_number

COLUMNS = ["model", "seed", "method", "stage", "term", "value"]
HEADLINE = ["forget_regurgitation", "forget_knowledge", "retain_regurgitation",
            "retain_knowledge", "task_aggregate", "mia_auc", "mia_score", "utility",
            "utility_relative", "perplexity", "final_score", "forget_quality",
            "mia_auc_gap", "privleak"]
CACHE = "study.json"  # the evaluations of the stages in one run folder
SKIPPED = ("seconds",)  # evaluation terms that are timings, not scores


# ---------------------------------------------------------------- where runs live
def _profile(profile) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile)


def run_root(profile: Profile, model: str, seed: int, out=None) -> Path:
    """runs/<profile>/<model>[/seed-<k>] (config.run_dir), or the same under `out`."""
    if out is None:
        return run_dir(profile.name, model, seed)
    base = Path(out) / model_label(model)
    return base if seed == 0 else base / f"seed-{seed}"


def method_stages(method: str, intermediate: bool = True) -> list[str]:
    """The stages on a method's path (companion.stages): sequential stabilises first."""
    if method not in UNLEARN_STAGES:
        raise CourseError(f"unknown method {method!r}: choose from "
                          f"{', '.join(UNLEARN_STAGES)}")
    return path_to(method, intermediate)


# ---------------------------------------------------------------- one stage's scores
EVALUATION_FORMAT = 2  # raised when an evaluation gains terms (2: MIA AUC per task)


def _fingerprint(run: Run, stage: str) -> dict:
    """What an evaluation depends on: checkpoint id, data, eval config, the oracle's,
    and the evaluation's format (a cache older than EVALUATION_FORMAT is redone)."""
    settings = checkpoints.read_settings(run.root, stage)
    oracle = run.root / "mia-oracle.json"
    compared = oracle.stat().st_mtime_ns if oracle.exists() and stage != "oracle" else None
    return {"checkpoint": settings.get("id") or settings.get("saved"), "data": run.data,
            "docs": run.profile.max_docs_per_task, "eval": asdict(run.profile.eval),
            "oracle": compared, "format": EVALUATION_FORMAT}


def _read_cache(root: Path) -> dict:
    path = root / CACHE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError:
        return {}  # a damaged cache only costs a re-evaluation


def _utility_items(model):
    """None (the bundled probe) for an offline preset; real-world items for GPT-2."""
    offline = model.config.vocab_size <= max(p.vocab_size for p in PRESETS.values())
    return None if offline else load_general_knowledge()


def stage_scores(run: Run, stage: str, general) -> Evaluation:
    """The Evaluation of one stage of `run`: built if missing, evaluated once, cached.

    A stage saved with other settings is refused; two processes evaluate it once.
    `general`: data.load_general() (utility probe and held-out text).
    """
    if run.has(stage):  # request-k: run_requests checks the saved number
        saved = checkpoints.read_settings(run.root, stage).get("n_requests", N_REQUESTS)
        run = run if saved == run.n_requests else replace(run, n_requests=saved)
        checkpoints.check_reusable(run.root, stage, stage_settings(run, stage))
        if (cached := _cached(run, stage)) is not None:
            return cached
    net, tokenizer = run.ensure(stage)
    with locks.locked(run.root / f".evaluating-{stage}.lock", f"evaluation of {stage!r}"):
        if (cached := _cached(run, stage)) is not None:
            return cached  # another process evaluated it meanwhile
        return _evaluate(run, stage, general, net, tokenizer)


def _cached(run: Run, stage: str) -> Evaluation | None:
    """The cached Evaluation, if made with today's fingerprint (and layout)."""
    entry = _read_cache(run.root).get(stage, {})
    key = _fingerprint(run, stage)
    if entry.get("key") != key or "evaluation" not in entry:
        return None  # a cache written before typed results only costs an evaluation
    return Evaluation.from_dict(entry["evaluation"])


def _evaluate(run: Run, stage: str, general, net, tokenizer) -> Evaluation:
    result = evaluate_model(net, tokenizer, run.benchmark, run.profile.eval,
                            stage=stage, general=general,
                            utility_items=_utility_items(net), out=run.root,
                            progress=run.progress)
    steps = checkpoints.read_settings(run.root, stage).get("result", {}).get("steps")
    # utility_relative comes from the baseline (_with_relative), not from the report
    result = replace(result, utility_relative=None).with_details(
        train_steps=float(steps if steps is not None else math.nan))
    entry = {"key": _fingerprint(run, stage), "evaluation": result.to_dict()}
    locks.merge_entry(run.root / CACHE, stage, entry,
                      lambda path: _read_cache(path.parent))
    return result


def _with_relative(result: Evaluation, base_utility: float) -> Evaluation:
    """utility_relative = utility / the baseline's (NaN when that is 0)."""
    relative = result.utility / base_utility if base_utility else math.nan
    return replace(result, utility_relative=relative)


def _values(result: Evaluation) -> dict[str, float]:
    """The rows of a study table: every number of the evaluation but timings."""
    return {k: v for k, v in result.flat().items() if k not in SKIPPED}


def _announce(model: str, seed: int, stage: str, v: Evaluation) -> None:
    print(f"{model_label(model)} seed {seed} {stage:>19}: final {v.final_score:.3f};"
          f" forget reg. {v.forget_regurgitation:.2f}, retain reg. "
          f"{v.retain_regurgitation:.2f}, utility {v.utility:.2f}")


def study_run(profile: Profile, model: str, seed: int, data=None, out=None,
              **options) -> Run:
    """The Run of one model and seed of a study: its folder by run_root(...)."""
    return make_run(profile, model, data, run_root(profile, model, seed, out), seed,
                    **options)


def evaluate_stage(profile, stage: str, model=None, seed: int = 0, *, data=None,
                   out=None, progress: bool = True) -> Evaluation:
    """The Evaluation of one stage (built if missing); cached, so run_study reuses it."""
    profile = _profile(profile)
    run = study_run(profile, model or profile.model, seed, data, out, progress=progress)
    general = load_general()
    # the baseline first: its report entry gives later stages their relative utility
    base = stage_scores(run, "baseline", general)
    result = base if stage == "baseline" else stage_scores(run, stage, general)
    return _with_relative(result, base.utility)


# ---------------------------------------------------------------- studies
def run_study(profile, models: list[str], methods: list[str], seeds: list[int], *,
              data=None, out=None, progress: bool = True, intermediate: bool = True,
              oracle: bool = True, announce: bool = True) -> pd.DataFrame:
    """Every model x seed x method at one budget, each stage scored (see the top).

    intermediate=False scores only the baseline and each method's end (the
    stabilised stage is still built, not evaluated): cheaper for many seeds.
    announce=False prints no line per stage (when a table of them follows).
    oracle=True builds and scores each seed's oracle first (listed under the
    method "oracle"), so every stage carries the oracle-relative terms.
    """
    profile = _profile(profile)
    paths = {method: method_stages(method, intermediate) for method in methods}
    if oracle:
        paths = {"oracle": ["oracle"], **paths}
    # the oracle first: every later evaluation is compared with it
    stages = list(dict.fromkeys((["oracle"] if oracle else []) + ["baseline"]
                                + [s for p in paths.values() for s in p]))
    general, rows = load_general(), []
    runs = {(model, seed): study_run(profile, model, seed, data, out, progress=progress)
            for model in models for seed in seeds}
    # the baselines and oracles that are missing, side by side on a CPU's cores
    build_roots([(run, stage) for run in runs.values() for stage in stages])
    for (model, seed), run in runs.items():
        scores = {s: stage_scores(run, s, general) for s in stages}
        for stage, result in scores.items():
            scores[stage] = _with_relative(result, scores["baseline"].utility)
            if announce:  # one line per stage; False when a table follows
                _announce(model, seed, stage, scores[stage])
        rows += [(model_label(model), seed, method, stage, term, value)
                 for method, path in paths.items() for stage in path
                 for term, value in _values(scores[stage]).items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def request_scores(root: Path, stage: str, requests: list[list[str]]) -> dict:
    """Mean regurgitation and knowledge of each request's items at a scored stage."""
    home = {doc: k for k, docs in enumerate(requests, start=1) for doc in docs}
    path = root / f"generations-{stage}.jsonl"
    if not path.exists():
        raise CourseError(f"{path} is missing: delete {root / CACHE} to evaluate again")
    scores: dict[str, list[float]] = {}
    for row in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
        k = home.get(document_id(row["id"]))
        if row["subset"] == "forget_train" and k is not None:
            name = "regurgitation" if row["kind"] == "sc" else "knowledge"
            scores.setdefault(f"request-{k}/{name}", []).append(row["score"])
    return {key: sum(v) / len(v) for key, v in sorted(scores.items())}


def _check_requests(root: Path, stage: str, n_requests: int) -> None:
    """A saved request-k must come from a split into the same number of requests."""
    saved = checkpoints.read_settings(root, stage).get("n_requests", n_requests)
    if saved != n_requests:
        raise CourseError(f"{checkpoints.stage_dir(root, stage)} comes from {saved} "
                          f"requests, not {n_requests}: pass n_requests={saved} or "
                          "another out folder")


def run_requests(profile, model=None, seed: int = 0, *, n_requests: int = N_REQUESTS,
                 data=None, out=None, progress: bool = True) -> pd.DataFrame:
    """Baseline, then request-1..n one after another, each scored (method "requests").

    Besides every official term, each stage has request-k/regurgitation and
    request-k/knowledge: the forget items of request k alone, for every k.
    """
    profile = _profile(profile)
    model = model or profile.model
    run = study_run(profile, model, seed, data, out, progress=progress,
                    n_requests=n_requests)
    requests = [sorted(set(map(document_id, r["id"])))
                for r in split_requests(run.benchmark["forget_train"], n_requests)]
    root, general, scores = run.root, load_general(), {}
    for stage in ["baseline"] + [f"request-{k}" for k in range(1, n_requests + 1)]:
        if not run.has(stage):  # request-k makes request-1..n
            run.ready(stage)
        if stage != "baseline":
            _check_requests(root, stage, n_requests)
        result = stage_scores(run, stage, general)
        base = scores["baseline"].utility if scores else result.utility
        scores[stage] = _with_relative(result, base)
        _announce(model, seed, stage, scores[stage])
    rows = [(model_label(model), seed, "requests", stage, term, value)
            for stage, result in scores.items()
            for term, value in {**_values(result),
                                **request_scores(root, stage, requests)}.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def _evaluated(profile, stage: str, model, seed: int, out, name: str) -> Path:
    """A file that evaluating `stage` wrote, or a CourseError saying what to do."""
    profile = _profile(profile)
    path = run_root(profile, model or profile.model, seed, out) / name
    if not path.exists():
        raise CourseError(f"{path} is missing: evaluate {stage!r} first "
                          "(study.evaluate_stage or run_study)")
    return path


def read_mia_losses(profile, stage: str, model=None, seed: int = 0,
                    out=None) -> dict[str, list[float]]:
    """{"member": [...], "nonmember": [...]}: document losses of an evaluated stage."""
    path = _evaluated(profile, stage, model, seed, out, f"mia-{stage}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def read_generations(profile, stage: str, model=None, seed: int = 0,
                     out=None) -> list[dict]:
    """Scored items of an evaluated stage: subset, id, task, kind, generation, score."""
    path = _evaluated(profile, stage, model, seed, out, f"generations-{stage}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- summaries
def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std over seeds (NaN for one) and n per model x method x stage x term."""
    keys = [c for c in ("model", "method", "stage", "term") if c in table.columns]
    grouped = table.groupby(keys, sort=False)["value"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def _once(table: pd.DataFrame) -> pd.DataFrame:
    """A baseline listed under several methods is one measurement: keep it once."""
    return table.drop_duplicates(["model", "seed", "stage", "term"])


def stage_table(table: pd.DataFrame, terms=None, spread: bool = False,
                digits: int = 3) -> pd.DataFrame:
    """One row per model x stage, one column per term: the mean (or "mean ± std")."""
    terms = list(terms or HEADLINE)
    once = _once(table).drop(columns="method")
    rows = summarise(once[once["term"].isin(terms)])
    if rows.empty:
        raise CourseError(f"none of {terms} is in the table: pass terms it has")
    cells = ([_spread(m, s, digits) for m, s in zip(rows["mean"], rows["std"])]
             if spread else rows["mean"].round(digits))
    wide = rows.assign(cell=cells).pivot(index=["model", "stage"], columns="term",
                                         values="cell")
    order = sorted(dict.fromkeys(zip(once["model"], once["stage"])),
                   key=lambda key: (list(once["model"]).index(key[0]), _rank(key[1])))
    return wide.reindex(order)[[t for t in terms if t in wide.columns]]


def _rank(stage: str) -> int:
    """Display order of stages: the table's order (companion.stages), requests last."""
    names = list(STAGES)
    return names.index(stage) if stage in names else len(names) + (
        request_number(stage) or 0)


def _spread(mean: float, std: float, digits: int) -> str:
    if math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def kept(table: pd.DataFrame, term: str = "retain_regurgitation",
         stage: str = "sequential") -> pd.DataFrame:
    """Per model and seed: `term` at the baseline and at `stage`, and their ratio."""
    rows = _once(table)
    wide = rows[rows["term"] == term].pivot(index=["model", "seed"], columns="stage",
                                            values="value")
    if stage not in wide or "baseline" not in wide:
        raise CourseError(f"the table needs {term!r} at 'baseline' and {stage!r}")
    out = wide[["baseline", stage]].rename(columns={stage: "after"})
    return out.assign(kept=out["after"] / out["baseline"]).reset_index()


def score(table: pd.DataFrame, term: str, stage: str, **where) -> float:
    """Mean of one term at one stage (over seeds, and the rows `where` selects)."""
    rows = table[(table["term"] == term) & (table["stage"] == stage)]
    for column, wanted in where.items():
        rows = rows[rows[column] == wanted]
    if rows.empty:
        raise CourseError(f"no {term!r} at stage {stage!r} {where or ''} in the table")
    return float(rows["value"].mean())
