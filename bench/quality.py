"""Quality: sequential unlearning vs gradient ascent, difference, NPO and KL, per seed.

    .venv/bin/python bench/quality.py --data semeval [--seeds 0 1 2]
    .venv/bin/python bench/quality.py --data bundled
    .venv/bin/python bench/quality.py --quick        # seconds: a smoke of the script

For each model preset and seed: a baseline fine-tuned on forget_train +
retain_train (plus the bundled general text, as the pipeline does for presets),
then every unlearning stage from it with the same budget (companion.pipeline's
stages: sequential = stabilise on retain, then layer-restricted gradient ascent;
the baselines on all blocks), each scored the official way (companion.evaluate:
every task term, MIA with forget_validation documents as non-members, utility,
final score). The tidy rows (data, model, seed, stage, term, value) go to
<out>/rows.jsonl as each stage finishes, so an interrupted study resumes; the
summary (mean, std over seeds) and the targets, measured not asserted, go to
bench/quality-<data>.json.

SemEval-2025 public data is read from PROJECT_ROOT.parent/shared/semeval25 and
never copied; without it `--data semeval` says so and exits cleanly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from common import BENCH_DIR, PROJECT_ROOT, write_result

import torch  # noqa: E402

from companion.config import (EvalConfig, TrainConfig, UnlearnConfig,  # noqa: E402
                              load_profile)
from companion.oracle import forget_quality  # noqa: E402
from companion.stages import CONTROLS, METHOD_STAGES, VARIANTS  # noqa: E402

SEMEVAL_DIR = PROJECT_ROOT.parent / "shared" / "semeval25"
MODELS = ("tiny-gpt2", "tiny-distilgpt2")  # the larger preset first
# sequential, the baselines, the two controls, the method's variants
METHODS = METHOD_STAGES + CONTROLS + VARIANTS
BASELINES = tuple(s for s in METHOD_STAGES if s != "sequential")


# ---------------------------------------------------------------- sizes


# Budgets per data set (batch 16; the offline profile trains 1,200 steps of 32), and
# every unlearning method gets the same budget. Each seed trains its own
# baseline and oracle with that seed (a copy of seed 0's baseline would be seed 0's
# model, judged against seed k's oracle; the stage checks refuse it).
SIZES = {
    "bundled": {"max_docs": None, "max_length": 256, "new_tokens": 64, "steps": 1200,
                "schedule": "constant", "stop_rule": "held_out"},
    # the whole public data: 342 forget and 364 retain training documents, 296k
    # course tokens in their items (2.83 tokens per word; documents median 401,
    # longest 667 tokens, so 512 keeps nearly every sc item whole). 4,000 steps with a
    # cosine decay memorise every task (MIA AUC within each task 0.97-1.00; 2,000
    # constant steps: 0.87-0.98), though the pooled AUC stays near 0.79 (RESULTS.md)
    # The stop: the oracle's level. Held-out documents, scored under the current
    # model, rise as fast as the forget documents there, so rule held_out never
    # fired and sequential ran its 60 steps into collapse (loss 22; RESULTS.md).
    "semeval": {"max_docs": None, "max_length": 512, "new_tokens": 96, "steps": 4000,
                "schedule": "cosine", "stop_rule": "oracle"},
}


def study_profile(data: str, quick: bool, args) -> object:
    """The offline profile with the study's budgets (see SIZES and the options)."""
    p = load_profile("offline", verbose=False)
    if quick:
        return replace(p, max_docs_per_task=1, seeds=(0,),
                       finetune=TrainConfig(steps=8, batch_size=8, lr=2e-3),
                       stabilise=TrainConfig(steps=2, batch_size=4, lr=5e-4),
                       unlearn=UnlearnConfig(steps=4, batch_size=4, lr=5e-4,
                                             check_every=2),
                       eval=EvalConfig(max_new_tokens=8, batch_size=16))
    size = SIZES[data]
    length = size["max_length"]
    max_docs = args.max_docs_per_task or size["max_docs"]
    return replace(
        p, max_docs_per_task=max_docs,
        finetune=replace(p.finetune, max_length=length,
                         steps=args.finetune_steps or size["steps"],
                         batch_size=16, lr=args.finetune_lr, warmup_steps=20,
                         schedule=args.finetune_schedule or size["schedule"]),
        stabilise=replace(p.stabilise, max_length=length, steps=args.stabilise_steps,
                          batch_size=8),
        unlearn=replace(p.unlearn, max_length=length, steps=args.unlearn_steps,
                        batch_size=8, lr=args.unlearn_lr, check_every=5,
                        trainable=args.trainable,
                        stop_rule=args.stop_rule or size["stop_rule"],
                        stop_regurgitation=args.stop_regurgitation),
        eval=replace(p.eval, max_new_tokens=size["new_tokens"]))


def shown(source: str) -> str:
    """A data source as RESULTS.md names it: a folder beside the project, relatively."""
    path = Path(source)
    if path.is_absolute() and path.is_relative_to(PROJECT_ROOT.parent):
        return str(Path("..") / path.relative_to(PROJECT_ROOT.parent))
    return source


def data_source(data: str) -> str | None:
    """The source string for load_benchmark, or None when SemEval's files are absent."""
    if data == "bundled":
        return "bundled"
    return str(SEMEVAL_DIR) if any(SEMEVAL_DIR.glob("*.parquet")) else None


# ---------------------------------------------------------------- one model x seed


def done_stages(rows_file: Path, data: str, model: str, seed: int) -> set[str]:
    """The stages of one (data, model, seed) unit already in rows.jsonl."""
    if not rows_file.exists():
        return set()
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line]
    return {r["stage"] for r in rows
            if (r["data"], r["model"], r["seed"]) == (data, model, seed)}


def run_unit(profile, data: str, source: str, model: str, seed: int, out: Path,
             methods=METHODS) -> None:
    """companion.study.run_study for one model x seed; its rows appended to rows.jsonl.

    The study trains each missing stage (baseline, stabilised, each method) with
    the same budget, evaluates each once and caches the scores next to the
    checkpoints, so an interrupted unit resumes where it stopped.
    """
    from companion.study import run_study

    rows_file = out / "rows.jsonl"
    done = done_stages(rows_file, data, model, seed)
    if set(methods) <= done:  # a method added later runs on its own (and is appended)
        return
    start = time.perf_counter()
    table = run_study(profile, [model], list(methods), [seed], data=source, out=out,
                      progress=False)
    # a stage shared by several methods' paths (the baseline) is one measurement
    table = table.drop_duplicates(["model", "seed", "stage", "term"])
    table = table[~table["stage"].isin(done)]
    with rows_file.open("a") as f:
        for stage, term, value in zip(table["stage"], table["term"], table["value"]):
            f.write(json.dumps({"data": data, "model": model, "seed": seed,
                                "stage": stage, "term": term, "value": value}) + "\n")
    print(f"[{data} {model} seed {seed}] done in {time.perf_counter() - start:.0f} s",
          flush=True)


def one_stage(profile, source: str, model: str, seed: int, out: Path,
              stage: str) -> None:
    """Train (or load) one stage of one unit alone, in its own process (an oracle scored).

    For the stages that depend on nothing: the oracle of seed 1 (the noise floor's
    second oracle), or a unit's oracle beside its baseline, each process on its
    own core (--threads 1); the unit's run then loads both.
    """
    from companion.data import load_general
    from companion.study import stage_scores, study_run

    run = study_run(profile, model, seed, source, out, progress=False)
    start = time.perf_counter()
    run.ready(stage)
    if stage == "oracle":  # scored now: every later stage is compared with it
        stage_scores(run, stage, load_general())
    print(f"[{model} seed {seed}] {stage} ready in {time.perf_counter() - start:.0f} s",
          flush=True)


# ---------------------------------------------------------------- summary, targets


def read_rows(out: Path, data: str) -> list[dict]:
    """The tidy rows of one data set, one per (model, seed, stage, term): the last.

    Two processes sharing a unit (--methods split between them) both append the
    stages they share (baseline, stabilised, oracle): one measurement, kept once.
    """
    path = out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    unique = {(r["model"], r["seed"], r["stage"], r["term"]): r for r in rows
              if r["data"] == data}
    return list(unique.values())


def summarise(rows: list[dict]) -> dict:
    """{model: {stage: {term: {mean, std, n}}}} over seeds."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["model"], {}).setdefault(r["stage"], {}).setdefault(
            r["term"], []).append(r["value"])
    return {m: {s: {t: {"mean": statistics.fmean(v),
                        "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
                    for t, v in terms.items()} for s, terms in stages.items()}
            for m, stages in groups.items()}


def _mean(summary, model, stage, term):
    return summary.get(model, {}).get(stage, {}).get(term, {}).get("mean")


def noise_floor(out: Path, model: str) -> float | None:
    """KS statistic between the forget-document losses of two oracles (seeds 0, 1)."""
    from companion.study import run_root

    profile = load_profile("offline", verbose=False)
    files = [run_root(profile, model, s, out) / "mia-oracle.json" for s in (0, 1)]
    if not all(f.exists() for f in files):
        return None  # seed 1's oracle: a unit of seed 1, or --only oracle --seeds 1
    a, b = (json.loads(f.read_text())["member"] for f in files)
    return forget_quality(a, b)["ks_statistic"]


def targets(summary: dict, floors: dict) -> list[dict]:
    """Each target of the brief, measured on the means: value, threshold, met.

    The first rows per model say whether the study counts at all: a baseline that
    never memorised (MIA AUC < 0.9, or forget quality against the oracle >= 1e-3)
    would make every method look as good as exact unlearning. The brief's row is
    the official, pooled AUC; beside it the lowest AUC within one task
    (membership.auc_by_task): on SemEval the pooled AUC mixes easy and hard tasks,
    so a baseline that memorised every task can still miss 0.9 there.
    """
    out = []

    def add(name, model, value, threshold, met):
        known = value is not None and threshold is not None
        out.append({"target": name, "model": model, "value": value,
                    "threshold": threshold, "met": bool(met()) if known else None})

    for model in summary:
        base = lambda t: _mean(summary, model, "baseline", t)  # noqa: E731
        oracle = lambda t: _mean(summary, model, "oracle", t)  # noqa: E731
        add("valid: baseline MIA AUC >= 0.9", model, base("mia_auc"), 0.9,
            lambda: base("mia_auc") >= 0.9)
        add("valid: baseline MIA AUC >= 0.9 within every task", model,
            base("mia/auc_lowest_task"), 0.9, lambda: base("mia/auc_lowest_task") >= 0.9)
        add("valid: baseline forget quality < 1e-3", model, base("forget_quality"),
            1e-3, lambda: base("forget_quality") < 1e-3)
        variants = {v: f for v in VARIANTS
                    if (f := _mean(summary, model, v, "final_score")) is not None}
        best_variant = max(variants, key=variants.get) if variants else None
        finals = {s: v for s in BASELINES
                  if (v := _mean(summary, model, s, "final_score")) is not None}
        best = max(finals, key=finals.get) if finals else None
        for stage in filter(None, ("sequential", best_variant)):
            name = "sequential" if stage == "sequential" else f"best variant ({stage})"
            seq = lambda t: _mean(summary, model, stage, t)  # noqa: E731
            gap = seq("mia_auc_gap")
            add(f"{name}: |MIA AUC - oracle's| <= 0.05", model, gap, 0.05,
                lambda: abs(gap) <= 0.05)
            floor = floors.get(model)
            add(f"{name}: KS statistic within the two-oracle noise floor", model,
                seq("ks_statistic"), floor, lambda: seq("ks_statistic") <= floor)
            limit = (None if oracle("forget_regurgitation") is None
                     else oracle("forget_regurgitation") + 0.05)
            add(f"{name}: forget regurgitation <= oracle's + 0.05", model,
                seq("forget_regurgitation"), limit,
                lambda: seq("forget_regurgitation") <= limit)
            kept = (seq("retain_regurgitation") / base("retain_regurgitation")
                    if base("retain_regurgitation") and seq("retain_regurgitation")
                    is not None else None)
            add(f"{name}: retain regurgitation kept >= 90 % of baseline", model, kept,
                0.9, lambda: kept >= 0.9)
            use = (seq("utility") / base("utility") if base("utility")
                   and seq("utility") is not None else None)
            add(f"{name}: utility >= 95 % of baseline", model, use, 0.95,
                lambda: use >= 0.95)
            add(f"{name}: final > every baseline method (best: {best})", model,
                seq("final_score"), finals.get(best),
                lambda: seq("final_score") > finals[best])
    if all(m in summary for m in MODELS):
        big, small = MODELS
        for term in ("mia_auc_gap", "ks_statistic"):
            b, s = (_mean(summary, big, "sequential", term),
                    _mean(summary, small, "sequential", term))
            add(f"{big} closer to its oracle than {small} (|{term}|)",
                f"{big} vs {small}", b, s, lambda: abs(b) < abs(s))
    return out


def print_summary(summary: dict, found: list[dict]) -> None:
    """Mean ± std of the headline terms per model and stage, then the targets."""
    cols = ("final_score", "task_aggregate", "mia_score", "utility",
            "forget_regurgitation", "retain_regurgitation", "mia_auc",
            "forget_quality", "ks_statistic", "mia_auc_gap", "privleak")
    for model, stages in summary.items():
        print(f"\n{model}: " + "  ".join(f"{c[:14]:>15}" for c in cols))
        for stage, terms in stages.items():
            cells = [f"{terms[c]['mean']:.3f}±{terms[c]['std']:.3f}" if c in terms
                     else "-" for c in cols]
            print(f"  {stage:20s}" + "  ".join(f"{x:>15}" for x in cells))
    for t in found:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        print(f"  {verdict:6s} {t['model']}: {t['target']} (measured {value})")


# ---------------------------------------------------------------- main


def make_parser() -> argparse.ArgumentParser:
    """The study's options (bench/tradeoff.py --data semeval reads the same defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("semeval", "bundled"), default="semeval")
    parser.add_argument("--quick", action="store_true", help="a tiny slice, seconds")
    parser.add_argument("--models", nargs="+", default=None, help=f"default {MODELS}")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="default 0 1 2")
    parser.add_argument("--max-docs-per-task", type=int, default=None,
                        help="first N documents per task and split (see SIZES)")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="baseline steps at batch 16 (see SIZES)")
    parser.add_argument("--finetune-lr", type=float, default=2e-3)
    parser.add_argument("--finetune-schedule", default=None,
                        choices=("constant", "cosine"),
                        help="after 20 warm-up steps (default: SIZES, bundled constant, "
                             "semeval cosine)")
    parser.add_argument("--stabilise-steps", type=int, default=10, help="batch 8")
    parser.add_argument("--unlearn-steps", type=int, default=60,
                        help="at most, batch 8, stop check every 5")
    parser.add_argument("--unlearn-lr", type=float, default=5e-4)
    parser.add_argument("--stop-rule", default=None,
                        choices=("held_out", "oracle", "regurgitation", "steps"),
                        help="every method's stop (companion.guard); default: the "
                             "calibrated stop of SIZES (bundled held_out, semeval "
                             "oracle)")
    parser.add_argument("--stop-regurgitation", type=float, default=0.1,
                        help="with --stop-rule regurgitation: stop once forget "
                             "regurgitation <= this")
    parser.add_argument("--trainable", default="last:2",
                        help="the blocks sequential ascends on (the others: all)")
    parser.add_argument("--methods", nargs="+", default=None, choices=METHODS,
                        help=f"default all: {', '.join(METHODS)}")
    parser.add_argument("--only", choices=("oracle", "baseline"), default=None,
                        help="only train this stage of each model x seed, an oracle "
                             "also scored (a second process: the oracle beside the "
                             "baseline, or --only oracle --seeds 1 for the noise floor)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--report-only", action="store_true",
                        help="summarise the rows already in --runs, train nothing")
    parser.add_argument("--runs", type=Path, default=PROJECT_ROOT / "runs" / "quality",
                        help="checkpoints and rows.jsonl (runs/ is git-ignored)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result JSON (default bench/quality-<data>.json)")
    return parser


def main(argv: list[str] | None = None) -> dict | None:
    """Run (or resume) the study of one data set; print and write its summary."""
    args = make_parser().parse_args(argv)
    torch.set_num_threads(args.threads)

    source = data_source(args.data)
    if source is None:
        print(f"skipped: no SemEval-2025 parquet files in {SEMEVAL_DIR}")
        return None
    profile = study_profile(args.data, args.quick, args)
    models = args.models or (MODELS[:1] if args.quick else MODELS)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    methods = args.methods or (("sequential",) if args.quick else METHODS)
    out = args.runs / (f"{args.data}-quick" if args.quick else args.data)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.only:  # a side job: the summary is written by the units' runs
        for seed, model in ((k, m) for k in seeds for m in models):
            one_stage(profile, source, model, seed, out, args.only)
        return None
    for seed in seeds if not args.report_only else []:
        for model in models:
            run_unit(profile, args.data, source, model, seed, out, methods)
    rows = read_rows(out, args.data)
    summary = summarise(rows)
    units = sorted({(r["model"], r["seed"]) for r in rows})
    floors = {m: noise_floor(out, m) for m in summary}
    found = targets(summary, floors)
    print_summary(summary, found)
    path = args.out or BENCH_DIR / f"quality-{args.data}.json"
    return write_result(path, "quality.py", argv, {
        "quick": args.quick, "data": args.data, "source": shown(source),
        "max_docs_per_task": profile.max_docs_per_task, "models": list(models),
        "seeds": list(seeds), "methods": list(methods), "report_only": args.report_only,
        "units_done": [f"{m} seed {k}" for m, k in units],
        "profile": {"finetune": vars(profile.finetune),
                    "stabilise": vars(profile.stabilise),
                    "unlearn": vars(profile.unlearn), "eval": vars(profile.eval)},
        "threads": args.threads,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "noise_floor_ks": floors, "summary": summary, "targets": found})


if __name__ == "__main__":
    main()
