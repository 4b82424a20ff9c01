"""Evaluation the official SemEval-2025 Task 4 way, plus utility and fluency.

An item is scored from the model's greedy continuation of its raw `input`:
sentence-completion (sc) items by ROUGE-L recall of the reference (regurgitation),
question (qa) items by exact match (knowledge). Per split and task the means are
kept; forget means are inverted (1 - x, forgetting is good) and the task aggregate
is their harmonic mean, so a single zero term makes it zero. Membership inference
(MIA) compares whole-document losses of forgotten (member) and never-seen
(non-member) documents: an AUC near 0.5 means the two look alike. Utility is
accuracy on general items; fluency is perplexity on held-out general text.
final_score = mean(task aggregate, MIA score, utility), as in the official kit
(which uses MMLU for utility). Generation lives in companion.generation, the
document losses behind MIA and perplexity in companion.membership; the typed
result (`Evaluation`: headline numbers and a table of terms) in companion.results.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rouge_score import rouge_scorer
from rouge_score.tokenizers import DefaultTokenizer

from . import data as course_data
from .config import DATA_DIR, CourseError, EvalConfig
from .generation import generate
from .locks import lock_path, locked, replace_file
from .membership import membership, perplexity
from .oracle import relative_terms
from .readers import read_records, read_table
from .runtime import progress_bar
from .results import TERM_COLUMNS, Evaluation, TaskScores, read_report

SPLITS = ("forget", "retain")
TASKS = ("Task1", "Task2", "Task3")
KINDS = {"sc": "regurgitation", "qa": "knowledge"}  # item kind -> score name
GENERAL_KNOWLEDGE = DATA_DIR / "general_knowledge.jsonl"
_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)  # built once: it is slow
_ROUGE_WORDS = DefaultTokenizer(use_stemmer=True)  # the scorer's own tokenizer


# ---------------------------------------------------------------- item scores
def regurgitation_score(reference: str, generation: str) -> float:
    """ROUGE-L recall of the reference in the generation (stemmed), as officially."""
    return float(_ROUGE.score(reference, generation)["rougeL"].recall)


def rouge_tokens(text: str) -> list[str]:
    """The words the official ROUGE scorer compares: lower-cased a-z/0-9 runs, stemmed.

    rouge-score's default tokenizer replaces every other character with a space,
    so Greek, Cyrillic or Japanese text has no words at all (and accented letters
    split words: "café" -> "caf"). A forget document in such a script repeated
    word for word scores ROUGE-L recall 0: fully "forgotten". The course keeps
    the official behaviour; this shows what it sees.
    """
    return _ROUGE_WORDS.tokenize(text)


def knowledge_score(reference: str, generation: str) -> float:
    """1.0 when the answer equals the reference after strip() and lower(), else 0.0."""
    return float(reference.strip().lower() == generation.strip().lower())


def first_words_match(reference: str, generation: str) -> float:
    """1.0 when the generation starts with the reference's words (any case, no punct.)."""
    want = re.findall(r"\w+", reference.lower())
    got = re.findall(r"\w+", generation.lower())[:len(want)]
    return float(bool(want) and got == want)


def item_kind(item_id: str) -> str:
    """'sc' for a sentence-completion item, 'qa' for a question (from the id's suffix)."""
    if course_data.is_sc(item_id):
        return "sc"
    if course_data.is_qa(item_id):
        return "qa"
    raise CourseError(f"item id {item_id!r} ends in neither sc<N> nor qa<N>: "
                      "fix the data")


def _rows(items) -> list[dict]:
    """A Dataset, a list of dicts or a path to a jsonl/parquet file, as a list of dicts."""
    if isinstance(items, (str, Path)):  # the user's file: the course's one reader
        return [row for _, row in read_records(items)]
    return [dict(row) for row in items]


def limit_items(items, max_items: int | None) -> list[dict]:
    """At most `max_items` rows, taken from each task in turn so every task stays in."""
    rows = _rows(items)
    if max_items is None or len(rows) <= max_items:
        return rows
    queues = {}
    for i, row in enumerate(rows):
        queues.setdefault(row.get("task"), []).append(i)
    keep, turn = [], 0
    while len(keep) < max_items:
        for queue in queues.values():
            if turn < len(queue) and len(keep) < max_items:
                keep.append(queue[turn])
        turn += 1
    return [rows[i] for i in sorted(keep)]


def score_items(model, tokenizer, dataset, config: EvalConfig,
                progress: bool = True) -> list[dict]:
    """One record per item: id, task, split, kind, input, reference, generation, score."""
    rows = limit_items(dataset, config.max_items)
    outputs = generate(model, tokenizer, [r["input"] for r in rows],
                       config.max_new_tokens, config.batch_size, progress)
    records = []
    for row, out in zip(rows, outputs):
        kind, answer = item_kind(row["id"]), out.strip()  # scored stripped, officially
        score = (regurgitation_score if kind == "sc" else knowledge_score)(
            row["output"], answer)
        records.append({"id": row["id"], "task": row["task"], "split": row["split"],
                        "kind": kind, "input": row["input"], "reference": row["output"],
                        "generation": answer, "score": score})
    return records


def forget_regurgitation(model, tokenizer, forget_items, config: EvalConfig) -> float:
    """Mean ROUGE-L recall on the sc items of `forget_items` (training's stop monitor)."""
    rows = limit_items([r for r in _rows(forget_items) if item_kind(r["id"]) == "sc"],
                       config.max_items)
    if not rows:
        raise CourseError("the forget set has no sentence-completion (sc) items to "
                          "monitor: pass forget items with ids ending in sc1")
    outputs = generate(model, tokenizer, [r["input"] for r in rows],
                       config.max_new_tokens, config.batch_size, progress=False)
    return float(np.mean([regurgitation_score(r["output"], o.strip())
                          for r, o in zip(rows, outputs)]))


# ---------------------------------------------------------------- task aggregate
def task_scores(records: list[dict]) -> TaskScores:
    """Official task aggregate: harmonic mean of the per split x task x kind terms.

    TaskScores.terms has one row per term: the raw `mean` (what the model does),
    the `term` that enters the harmonic mean (forget inverted: 1 - mean) and the
    `count` of items. A task or kind absent from the records has no term: it is
    listed in `missing` and the aggregate is taken over the terms present.
    `zero_terms` names the terms that make the aggregate 0.
    """
    scores: dict[tuple, list[float]] = {}
    for r in records:
        scores.setdefault((r["split"], r["task"], KINDS[r["kind"]]), []).append(
            r["score"])
    expected = [(s, t, k) for s in SPLITS for t in TASKS for k in KINDS.values()]
    keys = [k for k in expected if k in scores] + sorted(set(scores) - set(expected))
    if not keys:
        raise CourseError("no scored items: the evaluated splits are empty")
    rows = [(*key, mean, 1.0 - mean if key[0] == "forget" else mean, len(scores[key]))
            for key in keys for mean in [float(np.mean(scores[key]))]]
    terms = pd.DataFrame(rows, columns=TERM_COLUMNS)
    return TaskScores(float(statistics.harmonic_mean(terms["term"])), terms,
                      missing=tuple("/".join(k) for k in expected if k not in scores),
                      zero_terms=tuple("/".join(row[:3]) for row in rows if row[4] == 0))


# ---------------------------------------------------------------- utility, final
def load_general_knowledge(path: str | Path = GENERAL_KNOWLEDGE) -> list[dict]:
    """Real-world cloze items (id, input, output) that pretrained GPT-2 completes."""
    if not Path(path).exists():
        raise CourseError(f"{path} is missing: restore data/general_knowledge.jsonl")
    return read_table(path, ("id", "input", "output"), nonempty=("input", "output"))


def utility(model, tokenizer, items, config: EvalConfig, match: str = "first_words",
            progress: bool = True) -> dict:
    """Accuracy on general items by greedy continuation: first-words and exact match.

    `match` picks which one is `utility`. "first_words" (the default) suits cloze
    items: neither the offline models (trained on running text, where a fact is
    followed by more sentences) nor pretrained GPT-2 stop after the answer, so
    strict exact match (strip+lower, as the knowledge score; kept as
    `utility_exact`) is near 0 for both, whatever they know.
    """
    if match not in ("exact", "first_words"):
        raise CourseError(f"unknown utility match {match!r}: "
                          "use 'exact' or 'first_words'")
    rows = _rows(items)
    if not rows:
        raise CourseError("no utility items: pass a non-empty probe")
    # a continuation longer than the answer plus a margin cannot match either way
    longest = max(len(tokenizer(r["output"])["input_ids"]) for r in rows)
    budget = min(config.max_new_tokens, longest + 8)
    outputs = generate(model, tokenizer, [r["input"] for r in rows], budget,
                       config.batch_size, progress)
    exact = np.mean([knowledge_score(r["output"], o) for r, o in zip(rows, outputs)])
    first = np.mean([first_words_match(r["output"], o) for r, o in zip(rows, outputs)])
    return {"utility": float(exact if match == "exact" else first),
            "utility_exact": float(exact), "utility_first_words": float(first),
            "utility_match": match, "n_utility": len(rows)}


def final_score(task_aggregate: float, mia: float, utility_value: float) -> float:
    """The official final score: the plain mean of the three."""
    return (task_aggregate + mia + utility_value) / 3.0


def _baseline_utility(baseline) -> float | None:
    """Utility of a baseline: a number, an Evaluation, a saved stage or a report."""
    if baseline is None or isinstance(baseline, (int, float)):
        return baseline
    if isinstance(baseline, Evaluation):
        return baseline.utility
    if "stages" in baseline:
        baseline = baseline["stages"].get("baseline", {})
    return baseline.get("utility")


# ---------------------------------------------------------------- a whole stage
def evaluate_model(model, tokenizer, benchmark, config: EvalConfig, *, stage: str,
                   general=None, utility_items=None, out=None, baseline=None,
                   oracle=None, validation: bool = False,
                   progress: bool = True) -> Evaluation:
    """Every term of one stage: task scores, MIA, utility, fluency, final score.

    Items of forget_train and retain_train are scored (the official kit evaluates
    the training splits; `validation=True` adds the validation splits' terms as
    Evaluation.validation). Utility is measured on `utility_items` when given
    (pretrained GPT-2: load_general_knowledge()), else on the bundled probe.
    `baseline` (a number, an Evaluation or a report; by default the "baseline"
    stage of `out`'s report) sets `utility_relative`. `oracle` (the oracle's MIA
    document losses; by default out's mia-oracle.json) gives the oracle-relative
    terms of companion.oracle, or `oracle_missing` says why they are missing.
    With `out`, writes generations-<stage>.jsonl, mia-<stage>.json and the
    stage's entry of report.json (companion.results).
    """
    start = time.perf_counter()
    general = general if general is not None else course_data.load_general()
    subsets = _subsets(validation)
    # one bar for the whole evaluation, none per generate() call (leave=False: a
    # finished evaluation leaves nothing behind)
    bar = progress_bar(total=len(subsets) + 2, desc=f"evaluating {stage}", unit="part",
                       leave=False, progress=progress)
    records = {}
    for name in subsets:
        records[name] = score_items(model, tokenizer, benchmark[name], config,
                                    progress=False)
        bar.update()
    train = records["forget_train"] + records["retain_train"]
    task = task_scores(train)
    mia, losses = membership(model, tokenizer, benchmark, config.batch_size)
    bar.update()
    # an offline model is probed on facts of the corpus it learnt; pretrained GPT-2
    # on real-world facts (utility_items = load_general_knowledge())
    items = general["probe"] if utility_items is None else utility_items
    use = utility(model, tokenizer, items, config, progress=False)
    bar.update()
    bar.close()
    relative = relative_terms(stage, losses, oracle, out)
    missing = relative.pop("oracle_missing", None)
    if baseline is None and out is not None and stage != "baseline":
        baseline = read_report(out) if (Path(out) / "report.json").exists() else None
    base = _baseline_utility(baseline)
    held = (task_scores(records["forget_validation"] + records["retain_validation"])
            if validation else None)
    value = use.pop("utility")
    result = Evaluation(
        stage=stage, final_score=final_score(task.task_aggregate, mia["score"], value),
        task_aggregate=task.task_aggregate, mia_auc=mia["auc"], mia_score=mia["score"],
        utility=value, perplexity=perplexity(model, tokenizer,
                                             general["heldout"]["text"],
                                             config.batch_size),
        **_headline(train), task=task, oracle=relative, oracle_missing=missing,
        utility_relative=value / base if base else None, details={**use, "mia": mia},
        validation=held, mia_losses=losses)
    result = result.with_details(seconds=time.perf_counter() - start)
    if out is not None:
        _write_stage(Path(out), result, records, model, config)
    return result


def _subsets(validation: bool) -> tuple[str, ...]:
    train = ("forget_train", "retain_train")
    return train + ("forget_validation", "retain_validation") if validation else train


def _headline(records: list[dict]) -> dict:
    """Raw mean regurgitation and knowledge per split: the numbers a lesson prints."""
    out = {}
    for split in SPLITS:
        for kind, name in KINDS.items():
            values = [r["score"] for r in records
                      if r["split"] == split and r["kind"] == kind]
            out[f"{split}_{name}"] = float(np.mean(values)) if values else None
    return out


# ---------------------------------------------------------------- files
def _write_stage(out: Path, result: Evaluation, records, model, config) -> None:
    """generations-<stage>.jsonl, mia-<stage>.json; the stage merged into report.json."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"subset": name, **r}, ensure_ascii=False)
             for name, rows in records.items() for r in rows]
    replace_file(out / f"generations-{result.stage}.jsonl", "\n".join(lines) + "\n")
    replace_file(out / f"mia-{result.stage}.json", json.dumps(result.mia_losses))
    # read-merge-write under a lock: another process's stages are never lost
    with locked(lock_path(out / "report.json"), f"{out / 'report.json'}"):
        report = read_report(out)
        report.setdefault("settings", {}).update(
            {"model": getattr(model.config, "_name_or_path", "") or type(model).__name__,
             "eval": asdict(config), "torch": torch.__version__,
             "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        report.setdefault("stages", {})[result.stage] = result.to_dict()
        replace_file(out / "report.json", json.dumps(report, indent=2))


def evaluate_checkpoint(checkpoint, data=None, out=None, profile=None) -> Evaluation:
    """Evaluate a saved model folder: `python -m companion evaluate CHECKPOINT`."""
    from .config import load_profile
    from .models import PRESETS, load_model

    profile = load_profile(profile) if not hasattr(profile, "eval") else profile
    model, tokenizer = load_model(checkpoint)
    benchmark = course_data.load_benchmark(data or profile.data,
                                           profile.max_docs_per_task)
    # offline presets learnt the bundled corpus, so its probe measures them; a
    # pretrained GPT-2 (a larger vocabulary) gets real-world general knowledge
    offline = model.config.vocab_size <= max(p.vocab_size for p in PRESETS.values())
    items = None if offline else load_general_knowledge()
    out = Path(out) if out is not None else Path(checkpoint).parent
    result = evaluate_model(model, tokenizer, benchmark, profile.eval,
                            stage=Path(checkpoint).name, utility_items=items, out=out)
    print(f"{result.stage}: final {result.final_score:.3f} = mean(task "
          f"{result.task_aggregate:.3f}, MIA {result.mia_score:.3f}, utility "
          f"{result.utility:.3f}); report in {out / 'report.json'}")
    return result
