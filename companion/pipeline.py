"""Headless entry points: one stage, the whole pipeline, or a stage for a notebook.

Stages, and where each starts from (each saved in runs/<profile>/<model>/<stage>):

    baseline      a fresh preset (or pretrained GPT-2), fine-tuned on forget + retain
    stabilised    baseline   -> positive fine-tuning on the retain set
    sequential    stabilised -> layer-restricted negative fine-tuning (gradient ascent)
    gradient_ascent, gradient_difference, kl, npo
                  baseline   -> the method on all blocks: the comparison baselines
    request-1..n  baseline   -> erasure requests one after another, each one
                                stabilised then sequentially unlearnt
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from datasets import Dataset

from . import checkpoints
from .config import (CourseError, EvalConfig, Profile, TrainConfig, UnlearnConfig,
                     load_profile, run_dir, set_seed, with_overrides)
from .data import document_id, load_benchmark, load_general, training_texts
from .methods import METHODS
from .models import PRESETS, load_model
from .textloss import mean_loss
from .train import TrainResult, finetune, negative_finetune, stabilise_retain

UNLEARN_STAGES = ("sequential", *METHODS)  # each starts from baseline or stabilised
STAGES = ("baseline", "stabilised", *UNLEARN_STAGES)
N_REQUESTS = 3  # erasure requests in notebook 06 and `train request-k`
MONITOR_ITEMS = 32  # forget sc items generated at each stopping check


@dataclass(frozen=True)
class Run:
    """Where a run reads and writes: profile, model, data source, out folder, seed."""

    profile: Profile
    model_name: str
    data: str
    root: Path
    seed: int

    def benchmark(self):
        return load_benchmark(self.data, self.profile.max_docs_per_task)

    def settings(self, **extra) -> dict:
        return {"profile": self.profile.name, "model": self.model_name,
                "data": self.data, "max_docs_per_task": self.profile.max_docs_per_task,
                "seed": self.seed, **extra}


def make_run(profile=None, model_name=None, data=None, out=None, seed=0) -> Run:
    """Fill in defaults: the profile's model and data, runs/<profile>/<model> as out."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    model_name = model_name or profile.model
    root = Path(out) if out is not None else run_dir(profile.name, model_name)
    return Run(profile, model_name, str(data or profile.data), root, seed)


def baseline_texts(benchmark, model_name: str) -> list[str]:
    """What the baseline trains on: forget + retain items (+ general text from scratch).

    A preset learns English from the general corpus at the same time. The corpus
    is cut to at most twice as many texts as there are items (a sliced benchmark,
    as in smoke, gets a sliced corpus) and the items are repeated until they are
    about half of what it reads: then they get memorised, as the paper's
    fine-tuned GPT-2 memorised them, whatever the profile.
    """
    items = (training_texts(benchmark["forget_train"])
             + training_texts(benchmark["retain_train"]))
    if model_name not in PRESETS:
        return items  # pretrained GPT-2 knows English already
    corpus = list(load_general()["corpus"]["text"])[: 2 * len(items)]
    return corpus + items * max(1, round(len(corpus) / len(items)))


def stage_losses(model, tokenizer, texts: dict[str, list[str]],
                 config: TrainConfig) -> dict:
    """Mean loss per token of each named list of texts: {"forget_loss": ..., ...}."""
    return {f"{name}_loss": round(mean_loss(model, tokenizer, t,
                                            max_length=config.max_length,
                                            batch_size=config.batch_size), 4)
            for name, t in texts.items()}


def make_monitor(tokenizer, forget_items, config: UnlearnConfig,
                 eval_config: EvalConfig):
    """monitor(model) -> forget regurgitation for `stop_regurgitation` (or None)."""
    if config.stop_regurgitation is None:
        return None
    try:
        from .evaluate import forget_regurgitation
    except ImportError as error:
        print(f"note: no regurgitation monitor ({error}); stopping on loss and steps")
        return None
    eval_config = with_overrides(eval_config, max_items=MONITOR_ITEMS)
    return lambda model: forget_regurgitation(model, tokenizer, forget_items,
                                              eval_config)


def method_config(profile: Profile, stage: str) -> UnlearnConfig:
    """A stage's unlearning config: sequential as profiled; methods on all blocks.

    Same budget: every method gets profile.unlearn's steps, batch size, learning
    rate and stopping rule; sequential's retain stabilisation comes on top of it.
    """
    if stage == "sequential":
        return profile.unlearn
    return replace(profile.unlearn, method=stage, trainable="all")


def _stage_name(stage: str, method: str | None) -> str:
    if stage == "unlearn":
        stage = method or "sequential"
    elif method not in (None, stage):
        raise CourseError(f"--method goes with the stage 'unlearn': use "
                          f"`train {method}` or `train unlearn --method {method}`")
    if stage in STAGES or (stage.startswith("request-") and stage[8:].isdigit()):
        return stage
    raise CourseError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)}, "
                      f"unlearn, or request-1..request-{N_REQUESTS}")


def run_stage(stage: str, profile=None, model_name=None, data=None, out=None, seed=0,
              method=None, overwrite=False, progress=True, device="auto",
              n_requests=N_REQUESTS) -> TrainResult | list[TrainResult]:
    """Run one stage from its predecessor's checkpoint, and save it (see the top)."""
    run = make_run(profile, model_name, data, out, seed)
    stage = _stage_name(stage, method)
    if stage.startswith("request-"):
        return _run_requests(run, int(stage[8:]), n_requests, overwrite, progress,
                             device)
    if checkpoints.has_stage(run.root, stage) and not overwrite:
        raise CourseError(f"{checkpoints.stage_dir(run.root, stage)} already exists: "
                          "pass overwrite=True (--overwrite) to make it again")
    benchmark, p = run.benchmark(), run.profile
    forget = training_texts(benchmark["forget_train"])
    retain = training_texts(benchmark["retain_train"])
    start = _predecessor(stage)
    if stage == "baseline":
        set_seed(run.seed)  # a fresh preset's weights come from this seed
        model, tokenizer = load_model(run.model_name, device)
        configs = {"finetune": p.finetune}
        result = finetune(model, tokenizer, baseline_texts(benchmark, run.model_name),
                          p.finetune, run.seed, progress, desc="baseline")
    elif stage == "stabilised":
        model, tokenizer = checkpoints.load_stage(run.root, start, device)
        configs = {"stabilise": p.stabilise}
        result = stabilise_retain(model, tokenizer, retain, p.stabilise, run.seed,
                                  progress)
    else:
        model, tokenizer = checkpoints.load_stage(run.root, start, device)
        config = method_config(p, stage)
        configs = {"unlearn": config}
        monitor = make_monitor(tokenizer, benchmark["forget_train"], config, p.eval)
        result = negative_finetune(model, tokenizer, forget, retain, config,
                                   monitor=monitor, seed=run.seed, progress=progress)
    losses = stage_losses(model, tokenizer, {"forget": forget, "retain": retain},
                          p.finetune)
    settings = run.settings(started_from=start, configs=configs, losses=losses,
                            result=result.summary())
    history = {"history": result.history, "checks": result.checks}
    checkpoints.save_stage(run.root, stage, model, tokenizer, settings, history,
                           overwrite)
    print(f"{stage}: {result.stopped} after {result.steps} steps, {result.seconds:.1f}"
          f" s; forget loss {losses['forget_loss']:.3f}, "
          f"retain loss {losses['retain_loss']:.3f}")
    return result


def _predecessor(stage: str) -> str | None:
    if stage == "baseline":
        return None
    return "stabilised" if stage == "sequential" else "baseline"


def ensure_stage(profile, stage: str, model_name=None, seed=0, data=None, out=None,
                 device="auto", progress=True, n_requests=N_REQUESTS):
    """(model, tokenizer) of `stage`: loaded if saved, else built with what it needs."""
    run = make_run(profile, model_name, data, out, seed)
    stage = _stage_name(stage, None)
    if not checkpoints.has_stage(run.root, stage):
        before = _predecessor(stage)
        if before is not None:
            ensure_stage(run.profile, before, run.model_name, seed, run.data, run.root,
                         device, progress, n_requests)
        print(f"building {stage} in {run.root} (once; later calls load it)")
        run_stage(stage, run.profile, run.model_name, run.data, run.root, seed,
                  progress=progress, device=device, n_requests=n_requests)
    return checkpoints.load_stage(run.root, stage, device)


def run_pipeline(profile=None, model_name=None, data=None, method="sequential",
                 out=None, seed=0) -> dict:
    """Baseline -> (stabilise ->) unlearn with `method` -> evaluation of every stage.

    Stages already saved in the output folder are reused (if made with the same
    seed and data). Returns {stage: evaluation terms}, {} without companion.evaluate.
    """
    run = make_run(profile, model_name, data, out, seed)
    unlearn = _stage_name("unlearn", method)
    stages = ["baseline", "stabilised", unlearn] if unlearn == "sequential" else [
        "baseline", unlearn]
    for stage in stages:
        if checkpoints.has_stage(run.root, stage):
            _check_reusable(run, stage)
            print(f"{stage}: reusing {checkpoints.stage_dir(run.root, stage)}")
        else:
            run_stage(stage, run.profile, run.model_name, run.data, run.root, seed)
    try:
        from .evaluate import evaluate_checkpoint
    except ImportError as error:
        print(f"note: evaluation skipped ({error})")
        return {}
    return {stage: evaluate_checkpoint(checkpoints.stage_dir(run.root, stage), run.data,
                                       run.root, run.profile) for stage in stages}


def _check_reusable(run: Run, stage: str) -> None:
    saved = checkpoints.read_settings(run.root, stage)
    if saved.get("seed") != run.seed or saved.get("data") != run.data:
        raise CourseError(f"{checkpoints.stage_dir(run.root, stage)} was made with "
                          f"seed {saved.get('seed')} on {saved.get('data')}: "
                          "use another --out")


# ---------------------------------------------------------------- erasure requests


def split_requests(forget_dataset: Dataset, n: int) -> list[Dataset]:
    """The forget set cut into `n` requests of whole documents, in document order."""
    docs = list(dict.fromkeys(document_id(i) for i in forget_dataset["id"]))
    if not 1 <= n <= len(docs):
        raise CourseError(f"cannot split {len(docs)} documents into {n} requests: "
                          f"choose n between 1 and {len(docs)}")
    group = {doc: k * n // len(docs) for k, doc in enumerate(docs)}  # near-equal
    rows = [group[document_id(i)] for i in forget_dataset["id"]]
    return [forget_dataset.select([j for j, g in enumerate(rows) if g == k])
            for k in range(n)]


def sequential_requests(model, tokenizer, requests: list[Dataset], retain: Dataset,
                        config: UnlearnConfig, out_dir,
                        stabilise: TrainConfig | None = None,
                        eval_config: EvalConfig | None = None, seed: int = 0,
                        overwrite: bool = False, progress: bool = True,
                        settings: dict | None = None) -> list[TrainResult]:
    """Unlearn each request in turn (after stabilising, if given): request-1, -2, ...

    Each request gets the full `config` budget and its own checkpoint in out_dir.
    eval_config: when given, each request stops on its own forget regurgitation.
    """
    retain_texts, results = training_texts(retain), []
    for k, request in enumerate(requests, start=1):
        stabilised = None
        if stabilise is not None:
            stabilised = stabilise_retain(model, tokenizer, retain_texts, stabilise,
                                          seed + k, progress).summary()
        monitor = (make_monitor(tokenizer, request, config, eval_config)
                   if eval_config else None)
        forget_texts = training_texts(request)
        result = negative_finetune(model, tokenizer, forget_texts, retain_texts, config,
                                   monitor=monitor, seed=seed + k, progress=progress)
        losses = stage_losses(model, tokenizer,
                              {"request": forget_texts, "retain": retain_texts}, config)
        documents = len(set(map(document_id, request["id"])))
        info = {**(settings or {}), "request": k, "documents": documents,
                "configs": {"stabilise": stabilise, "unlearn": config},
                "stabilise": stabilised, "result": result.summary(), "losses": losses}
        checkpoints.save_stage(out_dir, f"request-{k}", model, tokenizer, info,
                               {"history": result.history, "checks": result.checks},
                               overwrite)
        print(f"request-{k}: {result.stopped}; request loss "
              f"{losses['request_loss']:.3f}, retain loss {losses['retain_loss']:.3f}")
        results.append(result)
    return results


def _run_requests(run: Run, k: int, n: int, overwrite: bool, progress: bool, device):
    """request-1..n from the baseline (the chain that holds request-k)."""
    if not 1 <= k <= n:
        raise CourseError(f"request-{k} is not among request-1..request-{n}: "
                          "pass n_requests")
    existing = [f"request-{i}" for i in range(1, n + 1)
                if checkpoints.has_stage(run.root, f"request-{i}")]
    if existing and not overwrite:
        raise CourseError(f"{checkpoints.stage_dir(run.root, existing[0])} already "
                          "exists: pass overwrite=True (--overwrite) to redo them")
    benchmark, p = run.benchmark(), run.profile
    model, tokenizer = checkpoints.load_stage(run.root, "baseline", device)
    requests = split_requests(benchmark["forget_train"], n)
    return sequential_requests(model, tokenizer, requests, benchmark["retain_train"],
                               p.unlearn, run.root, p.stabilise, p.eval, run.seed,
                               overwrite, progress,
                               run.settings(started_from="baseline", n_requests=n))
