"""Headless entry points: one stage, the whole pipeline, or a stage for a notebook.

`Run` is the one handle on a run (profile, model, data, folder, seed; the
benchmark loaded once): `run.ensure(stage)` loads a saved stage or builds it and
whatever it starts from (`run.ready(stage)` the same without loading it),
`run.build(stage)` trains it, `run.requests(n)` unlearns n erasure requests one
after another. `unlearn_variant` runs an unlearning stage with other settings in
memory (the saved stage itself when the settings are the profile's). Which stage
starts from which, and who makes it, is the table in companion.stages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from datasets import Dataset

from . import checkpoints
from .accelerated import is_main_process
from .config import (CourseError, Profile, UnlearnConfig, load_profile, run_dir,
                     with_overrides)
from .data import documents, load_benchmark, load_general, training_texts
from .erasure import sequential_requests, split_requests
from .evaluate import evaluate_checkpoint
from .guard import (CHECK_TEXTS, Calibration, make_monitor,
                    needs_calibration)
from .methods import get_method, with_params
from .models import PRESETS, load_model
from .parallel import build_roots
from .runtime import set_seed
from .stages import (N_REQUESTS, UNLEARN_STAGES, loss_hint, path_to, request_number,
                     stage as stage_row)
from .textloss import document_losses
from .train import (TrainResult, finetune, frozen_copy, negative_finetune,
                    stabilise_retain, stage_losses)


@dataclass(frozen=True)
class Run:
    """Where a run reads and writes: profile, model, data source, folder, seed."""

    profile: Profile
    model_name: str
    data: str
    root: Path
    seed: int
    device: str = "auto"
    progress: bool = True
    n_requests: int = N_REQUESTS

    @cached_property
    def benchmark(self):
        """The benchmark, loaded and checked once per Run."""
        return load_benchmark(self.data, self.profile.max_docs_per_task)

    def settings(self, **extra) -> dict:
        return {"profile": self.profile.name, "model": self.model_name,
                "data": self.data, "max_docs_per_task": self.profile.max_docs_per_task,
                "seed": self.seed, **extra}

    def has(self, stage: str) -> bool:
        return checkpoints.has_stage(self.root, stage)

    def ensure(self, stage: str):
        """(model, tokenizer) of `stage`: loaded if saved, else built with its chain.

        A saved stage made with other settings is refused (checkpoints.check_reusable);
        a stage another process is building is waited for, not built twice.
        """
        saved, built = self._ready(stage)
        if not built:  # a stage built just now has said how it ended
            print(f"{stage}: loading {checkpoints.stage_dir(self.root, stage)} "
                  f"(saved {saved.get('saved')})")
        return checkpoints.load_stage(self.root, stage, self.device)

    def ready(self, stage: str) -> dict:
        """`stage`'s saved settings, built and checked as by `ensure`; not loaded."""
        return self._ready(stage)[0]

    def _ready(self, stage: str) -> tuple[dict, bool]:
        """(saved settings of `stage`, whether this call built it)."""
        for name in path_to(stage_row(stage).name):
            built = False
            if not self.has(name):
                with checkpoints.building(self.root, _lock_name(name), wait=True):
                    if not self.has(name):  # another process may have made it
                        print(f"building {name} in {self.root} (once; later calls "
                              "load it)")
                        self.build(name)
                        built = True
            saved = checkpoints.check_reusable(self.root, name,
                                               stage_settings(self, name))
        return saved, built

    def build(self, stage: str, *, overwrite: bool = False):
        """Train `stage` from its predecessor's checkpoint and save it (stages table)."""
        with checkpoints.building(self.root, _lock_name(stage), wait=False):
            return self._build(stage, overwrite)

    def _build(self, stage: str, overwrite: bool):
        row = stage_row(stage)
        if row.build == "requests":  # request-k is built with request-1..n
            if not 1 <= (k := request_number(stage)) <= self.n_requests:
                raise CourseError(f"request-{k} is not among request-1..request-"
                                  f"{self.n_requests}: pass n_requests")
            return _run_requests(self, overwrite=overwrite)
        if self.has(stage) and not overwrite:
            raise CourseError(f"{checkpoints.stage_dir(self.root, stage)} already exists:"
                              " pass overwrite=True (--overwrite) to make it again")
        missing = [s for s in path_to(stage)[:-1] if not self.has(s)]
        if missing:  # the command that builds the first of them, in this run's words
            raise CourseError(
                f"no {missing[0]!r} checkpoint in {self.root}: build it first with "
                f"`python -m companion train {missing[0]} --profile {self.profile.name} "
                f"--model {self.model_name} --out {self.root}` (or run "
                f"{checkpoints.notebook_for(missing[0])})")
        model, tokenizer, configs, result = _BUILDERS[row.build](self, row)
        forget = training_texts(self.benchmark["forget_train"])
        retain = training_texts(self.benchmark["retain_train"])
        losses = stage_losses(model, tokenizer, {"forget": forget, "retain": retain},
                              self.profile.finetune)
        settings = self.settings(started_from=row.after, configs=configs,
                                 losses=losses, result=result.summary())
        history = {"history": result.history, "checks": result.checks}
        checkpoints.save_stage(self.root, stage, model, tokenizer, settings,
                               history=history, overwrite=overwrite)
        print(f"{stage}: {result.stopped} after {result.steps} steps, "
              f"{result.seconds:.1f} s; forget loss {losses['forget_loss']:.3f}, "
              f"retain loss {losses['retain_loss']:.3f}")
        return result


    def requests(self, n: int | None = None, *, overwrite: bool = False):
        """request-1..n (default n_requests), from the saved baseline: list[TrainResult].

        The forget set is cut into `n` erasure requests (split_requests), each
        unlearnt in turn (stabilised, then sequential ascent) and saved as
        request-k; `run.ensure("request-k")` loads them, building them if missing.
        """
        if n is not None and n != self.n_requests:
            return replace(self, n_requests=n).requests(overwrite=overwrite)
        with checkpoints.building(self.root, _lock_name("request-1"), wait=False):
            return _run_requests(self, overwrite=overwrite)


def _lock_name(stage: str) -> str:
    """request-1..n are built together, under request-1's lock."""
    return "request-1" if request_number(stage) else stage


def make_run(profile=None, model_name=None, data=None, out=None, seed=0,
             **options) -> Run:
    """Fill in defaults: the profile's model and data, run_dir(...) as the folder.

    out: the run folder itself (default runs/<profile>/<model>[/seed-<k>]).
    options: device, progress, n_requests. model_name and data override the
    profile's (as COURSE_MODEL and COURSE_DATA do in load_profile).
    """
    if isinstance(profile, Profile):
        profile = with_overrides(profile, model=model_name, data=data)
    else:  # prints the profile line with the model and data really used
        profile = load_profile(profile, model=model_name, data=data)
    root = Path(out) if out is not None else run_dir(profile.name, profile.model, seed)
    return Run(profile, str(profile.model), str(profile.data), root, seed, **options)


def baseline_texts(benchmark, model_name: str, *, forget: bool = True) -> list[str]:
    """What the baseline trains on: forget + retain items (+ general text from scratch).

    A preset learns English from the general corpus at the same time. The corpus
    is cut to at most twice as many texts as there are items (a sliced benchmark,
    as in smoke, gets a sliced corpus) and the items are repeated until they are
    about half of what it reads: then they get memorised, as the paper's
    fine-tuned GPT-2 memorised them, whatever the profile. forget=False gives the
    oracle's texts: the same corpus and the retain items repeated as often as in
    the baseline, with nothing of the forget set.
    """
    retain = training_texts(benchmark["retain_train"])
    items = training_texts(benchmark["forget_train"]) + retain
    if model_name not in PRESETS:
        return items if forget else retain  # pretrained GPT-2 knows English already
    corpus = list(load_general()["corpus"]["text"])[: 2 * len(items)]
    repeats = max(1, round(len(corpus) / len(items)))
    return corpus + (items if forget else retain) * repeats


def method_config(profile: Profile, stage: str) -> UnlearnConfig:
    """A stage's unlearning config: the profile's, with the stage row's method/blocks.

    Same budget: every method gets profile.unlearn's steps, batch size, learning
    rate and stopping rule; sequential's retain stabilisation comes on top of it.
    """
    row = stage_row(stage)
    return with_params(replace(profile.unlearn,
                               method=row.method or profile.unlearn.method,
                               trainable=row.trainable or profile.unlearn.trainable))


def calibration(run: Run, forget_items: Dataset, config: UnlearnConfig):
    """The calibrated stop's Calibration for `forget_items`, or None for other rules.

    A method with a `ceiling` (per-document stopping) gets one under every rule:
    its ceiling is the calibration's target at the start.

    held_out: the retain set's validation documents, never trained on and never
    the MIA's non-members (forget_validation), so the stop is not tuned on the
    test. oracle: the oracle's mean loss on the same forget documents.
    """
    if not needs_calibration(config):
        return None
    forget = list(documents(forget_items)["document"])
    if config.stop_rule != "oracle":
        held_out = list(documents(run.benchmark["retain_validation"])["document"])
        return Calibration(forget, held_out=held_out)
    oracle, tokenizer = run.ensure("oracle")
    level = document_losses(oracle, tokenizer, forget[:CHECK_TEXTS],
                            batch_size=config.batch_size).mean()
    return Calibration(forget, level=float(level))


def _baseline(run: Run, row):
    set_seed(run.seed)  # a fresh preset's weights come from this seed
    model, tokenizer = load_model(run.model_name, run.device)
    texts = baseline_texts(run.benchmark, run.model_name, forget=row.name != "oracle")
    result = finetune(model, tokenizer, texts, run.profile.finetune, seed=run.seed,
                      progress=run.progress, desc=row.name)
    return model, tokenizer, {"finetune": run.profile.finetune}, result


def _stabilise(run: Run, row):
    model, tokenizer = checkpoints.load_stage(run.root, row.after, run.device)
    retain = training_texts(run.benchmark["retain_train"])
    result = stabilise_retain(model, tokenizer, retain, run.profile.stabilise,
                              seed=run.seed, progress=run.progress)
    return model, tokenizer, {"stabilise": run.profile.stabilise}, result


def unlearn_stage(run: Run, row):
    """(model, tokenizer, configs, result) of an unlearning row, trained, not saved."""
    model, tokenizer = checkpoints.load_stage(run.root, row.after, run.device)
    config, items = method_config(run.profile, row.name), run.benchmark["forget_train"]
    reference = None  # a method compared with the oracle gets it, frozen
    if get_method(config.method).reference == "oracle":
        reference = frozen_copy(run.ensure("oracle")[0])
    result = negative_finetune(
        model, tokenizer, training_texts(items),
        training_texts(run.benchmark["retain_train"]), config, reference=reference,
        monitor=make_monitor(tokenizer, items, config, run.profile.eval),
        seed=run.seed, progress=run.progress,
        calibration=calibration(run, items, config))
    return model, tokenizer, {"unlearn": config}, result


def unlearn_variant(run: Run, stage: str = "sequential", **changes):
    """(model, tokenizer, ended) of unlearning `stage` with `changes` to its settings.

    changes: UnlearnConfig fields (stop_rule="held_out", trainable="all", ...) but
    what the stage fixes (its method, its blocks if it names them). The profile's own
    settings give the saved stage when it is current (bit for bit what a rebuild
    gives: tests/test_oracle.py); any other variant is trained in memory from the
    stage's predecessor (built if missing) and never saved. ended: {"steps",
    "stopped"}. Errors: CourseError for a stage that is not an unlearning stage or
    a change it fixes; TypeError for a field UnlearnConfig does not have.
    """
    row = stage_row(stage)
    if row.build != "unlearn":
        raise CourseError(f"{stage!r} is not an unlearning stage: choose one of "
                          f"{', '.join(UNLEARN_STAGES)}")
    for key in ("method", "trainable"):
        if key in changes and getattr(row, key) is not None:
            raise CourseError(f"{stage!r} fixes its {key} ({getattr(row, key)!r}): "
                              "change another setting, or pick the stage that has it")
    unlearn = replace(run.profile.unlearn, **changes)
    run.ready(row.after)  # refuses a predecessor made with other settings
    if unlearn == run.profile.unlearn and (saved := current_settings(run, stage)):
        model, tokenizer = checkpoints.load_stage(run.root, stage, run.device)
        return model, tokenizer, {k: saved["result"][k] for k in ("steps", "stopped")}
    variant = replace(run, profile=replace(run.profile, unlearn=unlearn),
                      progress=False)
    model, tokenizer, _, result = unlearn_stage(variant, row)
    return model, tokenizer, {"steps": result.steps, "stopped": result.stopped}


_BUILDERS = {"baseline": _baseline, "oracle": _baseline, "stabilise": _stabilise,
             "unlearn": unlearn_stage}


def _stage_name(stage: str, method: str | None) -> str:
    if stage == "unlearn":
        stage = method or "sequential"
        if stage not in UNLEARN_STAGES:
            raise CourseError(f"unknown method {stage!r}: choose one of "
                              f"{', '.join(UNLEARN_STAGES)}{loss_hint(stage)}")
    elif method not in (None, stage):
        raise CourseError(f"--method goes with the stage 'unlearn': use "
                          f"`train {method}` or `train unlearn --method {method}`")
    return stage_row(stage).name


def run_stage(stage: str, profile=None, model_name=None, data=None, out=None, seed=0,
              *, method=None, overwrite=False, **options):
    """Run one stage from its predecessor's checkpoint, and save it (Run.build)."""
    run = make_run(profile, model_name, data, out, seed, **options)
    return run.build(_stage_name(stage, method), overwrite=overwrite)


def ensure_stage(profile, stage: str, model_name=None, seed=0, data=None, out=None,
                 **options):
    """(model, tokenizer) of `stage`: loaded if saved, else built (Run.ensure).

    options: device ("auto"), progress (True), n_requests (3).
    """
    return make_run(profile, model_name, data, out, seed, **options).ensure(stage)


def stage_configs(profile: Profile, stage: str) -> dict:
    """The configs a stage is trained with (recorded in its settings.json)."""
    build = stage_row(stage).build
    if build in ("baseline", "oracle"):
        return {"finetune": profile.finetune}
    if build == "stabilise":
        return {"stabilise": profile.stabilise}
    if build == "requests":
        return {"stabilise": profile.stabilise, "unlearn": with_params(profile.unlearn)}
    return {"unlearn": method_config(profile, stage)}


def stage_settings(run: Run, stage: str) -> dict:
    """What a saved `stage` must have been made with to be reused for `run`."""
    extra = {"n_requests": run.n_requests} if request_number(stage) else {}
    return run.settings(started_from=stage_row(stage).after,
                        configs=stage_configs(run.profile, stage), **extra)


def current_settings(run: Run, stage: str) -> dict | None:
    """The settings of `stage` saved in run.root, if made as it would be built now."""
    if not run.has(stage):
        return None
    saved = checkpoints.read_settings(run.root, stage)
    stale = checkpoints.stale_reasons(saved, stage_settings(run, stage), run.root)
    return None if stale else saved


def run_pipeline(profile=None, model_name=None, data=None, method="sequential",
                 out=None, seed=0, *, oracle: bool = True) -> dict:
    """Baseline, oracle -> (stabilise ->) unlearn with `method` -> evaluate every stage.

    The oracle (exact unlearning) is built and evaluated first, so every other
    stage's report carries the oracle-relative terms; oracle=False (--no-oracle)
    skips it, and the reports then say why those terms are missing. Stages saved
    in the folder are reused if made with the same seed and data. Returns
    {stage: Evaluation} (companion.results).
    """
    run = make_run(profile, model_name, data, out, seed)
    stages = path_to(_stage_name("unlearn", method))
    if oracle:
        stages.insert(1, "oracle")
    saved = {stage for stage in stages if run.has(stage)}
    build_roots([(run, stage) for stage in stages])  # baseline beside oracle on a CPU
    for stage in stages:
        if stage in saved:
            checkpoints.check_reusable(run.root, stage, stage_settings(run, stage))
            print(f"{stage}: reusing {checkpoints.stage_dir(run.root, stage)}")
        elif not run.has(stage):  # (build_roots has just built the roots it could)
            run.build(stage)
    if not is_main_process():
        return {}  # under accelerate launch, process 0 evaluates and writes the report
    judged = sorted(stages, key=lambda stage: stage != "oracle")  # the oracle first
    return {stage: evaluate_checkpoint(checkpoints.stage_dir(run.root, stage), run.data,
                                       run.root, run.profile) for stage in judged}


# ---------------------------------------------------------------- erasure requests


def _run_requests(run: Run, *, overwrite: bool = False) -> list[TrainResult]:
    """request-1..run.n_requests from the baseline (Run.requests; lock held)."""
    n = run.n_requests
    existing = [f"request-{i}" for i in range(1, n + 1) if run.has(f"request-{i}")]
    if existing and not overwrite:
        raise CourseError(f"{checkpoints.stage_dir(run.root, existing[0])} already "
                          "exists: pass overwrite=True (--overwrite) to redo them")
    p = run.profile
    requests = split_requests(run.benchmark["forget_train"], n)
    held_out = list(documents(run.benchmark["retain_validation"])["document"])
    stabilised = None  # request 1 stabilises as the saved stage did (its seconds, too)
    if saved := current_settings(run, "stabilised"):
        stabilised = {**saved["result"], "stage": "stabilised", "id": saved.get("id")}
    model, tokenizer = checkpoints.load_stage(
        run.root, "stabilised" if stabilised else "baseline", run.device)
    return sequential_requests(
        model, tokenizer, requests, run.benchmark["retain_train"],
        with_params(p.unlearn), run.root,
        stabilise=p.stabilise, eval_config=p.eval, seed=run.seed, overwrite=overwrite,
        progress=run.progress, held_out=held_out, stabilised=stabilised,
        settings=run.settings(started_from="baseline", n_requests=n))
