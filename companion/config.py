"""Paths, profiles and the small dataclass configs every stage reads.

A *profile* decides how big everything is: `smoke` (seconds, for CI), `offline`
(the embedded default: minutes on a laptop CPU, no network), `full` (pretrained
GPT-2 and hub data, for Colab and GPUs), `workshop` (full cut to fit each
notebook in a 20-minute slot on a Colab T4) and `auto` (full where a GPU and the
hub are there, else offline). A notebook reads its profile once, at the top; every
step count and size below comes from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
BUNDLED_DIR = DATA_DIR / "bundled"
RUNS_DIR = Path(os.environ.get("COURSE_RUNS_DIR", PROJECT_ROOT / "runs"))
CACHE_DIR = RUNS_DIR / "cache"

HUB_DATASET = "llmunlearningsemeval2025organization/semeval25-unlearning-dataset-public"
PROFILES = ("smoke", "offline", "full", "auto", "workshop")


class CourseError(ValueError):
    """A mistake the user can fix; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one positive fine-tuning stage."""

    steps: int = 300  # optimiser steps
    batch_size: int = 16  # sequences per micro-batch
    lr: float = 1e-3  # AdamW learning rate
    max_length: int = 256  # tokens per sequence; longer items are truncated
    grad_accum: int = 1  # micro-batches per optimiser step
    clip_norm: float = 1.0  # gradient-norm clipping
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 0  # linear warm-up, then the schedule
    # after warm-up: "constant", or "cosine" (decays to 0 at `steps`); transformers'
    # get_scheduler names (constant_with_warmup, cosine)
    schedule: str = "constant"
    log_every: int = 10  # record the loss every k steps
    precision: str = "auto"  # "auto": bf16 / fp16 on CUDA as it allows, fp32 on CPU


@dataclass(frozen=True)
class UnlearnConfig(TrainConfig):
    """Settings of negative fine-tuning (and of the baseline unlearning methods)."""

    steps: int = 40
    lr: float = 1e-4
    method: str = "gradient_ascent"  # a name registered in companion.methods
    trainable: str = "last:2"  # which parameters move: "last:k", "0,3", "all", regex
    # each method's own hyperparameters by method name, e.g. {"npo": {"beta": 0.05}}
    # (CLI: --unlearn.params.npo.beta=0.05); unset ones keep companion.methods' defaults
    params: dict = field(default_factory=dict)
    stop_forget_loss: float | None = None  # stop once the forget loss exceeds this
    stop_regurgitation: float | None = 0.1  # stop once forget ROUGE-L recall <= this
    # "regurgitation" (the line above), "held_out" or "oracle" (the calibrated stop:
    # forget documents as likely as never-seen ones), "steps": companion.guard
    stop_rule: str = "regurgitation"
    check_every: int = 10  # steps between stopping checks
    divergence_factor: float = 10.0  # a loss this many times its start (>= 1 nat) diverged


@dataclass(frozen=True)
class EvalConfig:
    """Settings of evaluation."""

    max_new_tokens: int = 64  # the official evaluation generates 256
    batch_size: int = 16  # prompts per generate() call
    max_items: int | None = None  # evaluate at most this many items per split


@dataclass(frozen=True)
class LessonChecks:
    """Tolerances of the claims a notebook asserts (looser in the short smoke runs)."""

    memorised: float = 0.8  # baseline forget and retain regurgitation at least this
    forget_drop: float = 0.2  # unlearning lowers forget regurgitation by at least this
    retain_kept: float = 0.8  # and keeps at least this fraction of retain regurgitation
    oracle_mia_score: float = 0.6  # the oracle's MIA score is at least this


@dataclass(frozen=True)
class AttackConfig:
    """Settings of the attacks on an unlearned model (notebook 07)."""

    relearn: TrainConfig = TrainConfig(steps=40, batch_size=8, lr=5e-4)  # the budget
    relearn_fraction: float = 0.5  # share of forget documents the attacker trains on
    measure_every: int = 10  # relearning steps between measurements of the curve
    min_k: float = 0.2  # Min-K% and Min-K%++: the share of lowest-scored tokens kept
    bits: tuple[int, ...] = (8, 4)  # quantisation widths tried
    ngram: int = 3  # collapse detector: n of the repeated-n-gram rate
    max_repeat: float = 0.5  # a generation repeating more n-grams than this collapsed
    min_distinct: float = 0.3  # ... or one with fewer distinct words than this share
    prompts: int = 32  # generations per prompt set for the collapse detector
    relearn_gain: float = 0.1  # positive control: relearning recovers at least this
    overshoot: int = 3  # the collapse example ascends this many unlearning budgets
    max_collapsed: float = 0.25  # an oracle's share of collapsed generations at most
    member_auc: float = 0.75  # every attack separates the baseline's members this well


@dataclass(frozen=True)
class Profile:
    """Everything that sets the size of a run."""

    name: str
    reason: str
    model: str  # the main model: a preset or a hub name
    small_model: str  # the smaller one, for the capacity comparison
    data: str  # "bundled" or a hub id / folder
    max_docs_per_task: int | None  # None = all documents
    seeds: tuple[int, ...]  # seeds for multi-seed studies
    finetune: TrainConfig
    stabilise: TrainConfig
    unlearn: UnlearnConfig
    eval: EvalConfig = field(default_factory=EvalConfig)
    checks: LessonChecks = field(default_factory=LessonChecks)
    attack: AttackConfig = field(default_factory=AttackConfig)

    def __str__(self) -> str:
        return f"profile {self.name!r} ({self.reason}): model {self.model}, data {self.data}"


def _smoke(reason: str) -> Profile:
    return Profile(
        name="smoke", reason=reason, model="tiny-gpt2", small_model="tiny-distilgpt2",
        data="bundled", max_docs_per_task=2, seeds=(0,),
        finetune=TrainConfig(steps=400, batch_size=8, lr=2e-3, warmup_steps=20),
        stabilise=TrainConfig(steps=20, batch_size=8, lr=5e-4),
        unlearn=UnlearnConfig(steps=40, batch_size=8, lr=5e-4, check_every=5,
                              stop_regurgitation=0.5),
        eval=EvalConfig(max_new_tokens=48, batch_size=16),
        checks=LessonChecks(memorised=0.3, forget_drop=0.1, retain_kept=0.5),
        attack=AttackConfig(prompts=16),
    )


def _offline(reason: str) -> Profile:
    return Profile(
        name="offline", reason=reason, model="tiny-gpt2", small_model="tiny-distilgpt2",
        # one seed keeps notebook 05 to minutes; bench/quality.py repeats with three
        data="bundled", max_docs_per_task=None, seeds=(0,),
        # 1200 steps at 1.5e-3 memorise as 1500 at 1e-3 did, as robustly to the
        # retain stabilisation (bench/RESULTS.md, "Shortening the offline baseline")
        finetune=TrainConfig(steps=1200, batch_size=32, lr=1.5e-3, warmup_steps=50),
        stabilise=TrainConfig(steps=200, batch_size=16, lr=3e-4),
        unlearn=UnlearnConfig(steps=80, batch_size=16, lr=2e-4, check_every=5,
                              stop_regurgitation=0.6),
        eval=EvalConfig(max_new_tokens=96, batch_size=32),
        attack=AttackConfig(relearn=TrainConfig(steps=60, batch_size=16, lr=2e-4),
                            measure_every=15),
    )


def _full(reason: str) -> Profile:
    return Profile(
        name="full", reason=reason, model="gpt2", small_model="distilgpt2",
        data=HUB_DATASET, max_docs_per_task=None, seeds=(0, 1, 2),
        finetune=TrainConfig(steps=1000, batch_size=8, lr=5e-5, max_length=512,
                             grad_accum=2, warmup_steps=50),
        stabilise=TrainConfig(steps=100, batch_size=8, lr=2e-5, max_length=512),
        unlearn=UnlearnConfig(steps=100, batch_size=8, lr=1e-5, max_length=512),
        eval=EvalConfig(max_new_tokens=256, batch_size=32),
        attack=AttackConfig(relearn=TrainConfig(steps=50, batch_size=8, lr=1e-5,
                                                max_length=512), measure_every=10),
    )


def _workshop(reason: str) -> Profile:
    """`full` cut to fit each notebook in a 20-minute slot on a T4 (an estimate:
    bench/full_timing.py): 12 documents per task, one seed, steps scaled to them."""
    full = _full(reason)
    return replace(full, name="workshop", max_docs_per_task=12, seeds=(0,),
                   finetune=replace(full.finetune, steps=150, warmup_steps=15),
                   stabilise=replace(full.stabilise, steps=20),
                   unlearn=replace(full.unlearn, steps=40, check_every=5))


_BUILDERS = {"smoke": _smoke, "offline": _offline, "full": _full, "workshop": _workshop}


def _auto() -> Profile:
    import torch  # the run-time checks: only `auto` needs them

    from .runtime import hub_reachable

    if not torch.cuda.is_available():
        return _offline("auto: no GPU found")
    if not hub_reachable():
        return _offline("auto: a GPU is here but the Hugging Face Hub does not answer")
    return _full("auto: a GPU is here and the Hugging Face Hub answers")


OVERRIDES = {"model": "COURSE_MODEL", "data": "COURSE_DATA"}  # field -> variable


def load_profile(name: str | None = None, verbose: bool = True,
                 model: str | None = None, data: str | None = None) -> Profile:
    """The profile named (or `COURSE_PROFILE`, default auto), announced with its reason.

    `model` (a preset, a hub id or a local folder) and `data` (bundled, a folder or
    a hub id) replace the profile's own; without them `COURSE_MODEL` and
    `COURSE_DATA` do, so a notebook uses any model or data without being edited.
    `COURSE_SETTINGS` changes any other setting the way `override` does, settings
    separated by spaces: COURSE_SETTINGS="seeds=0,1,2 unlearn.lr=1e-4".
    """
    name = (name or os.environ.get("COURSE_PROFILE") or "auto").strip().lower()
    if name not in PROFILES:
        raise CourseError(
            f"unknown profile {name!r}: set COURSE_PROFILE to one of {', '.join(PROFILES)}"
        )
    if name == "auto":
        profile = _auto()
    else:
        source = "COURSE_PROFILE" if os.environ.get("COURSE_PROFILE") else "argument"
        profile = _BUILDERS[name](f"chosen by {source}")
    given = {"model": model, "data": data}
    changes = {key: given[key] or os.environ.get(variable, "").strip() or None
               for key, variable in OVERRIDES.items()}
    profile = with_overrides(profile, **changes)
    settings = os.environ.get("COURSE_SETTINGS", "").split()
    profile = override(profile, settings)
    if verbose:
        changed = f"; COURSE_SETTINGS: {' '.join(settings)}" if settings else ""
        print(f"Using {profile}{changed}")
    return profile


def import_extra(module: str, extra: str = "jupyter"):
    """Import a module of an optional extra, or say in one line how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CourseError(f"{module} is not installed: it comes with the course's "
                          f"{extra!r} extra: pip install -e '.[{extra}]' (make install "
                          "does it)") from None


def with_overrides(config, **changes):
    """A copy of a frozen config with some fields changed (None values are ignored)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})


def override(profile: Profile, settings: list[str]) -> Profile:
    """The profile with dotted settings changed: ["unlearn.lr=1e-4", "seeds=0,1"].

    Each setting is `section.field=value` (or `field=value` for the profile's own
    fields), nanoGPT-style; the value is parsed as the field's current type
    (int, float, bool, str, None-able, a tuple of ints). A dict field takes keys
    below it: `unlearn.params.npo.beta=0.05` sets one method's hyperparameter
    (companion.methods checks the name and type). Unknown names and unparsable
    values raise one CourseError line listing what exists.
    """
    for setting in settings:
        name, sep, text = setting.partition("=")
        if not sep:
            raise CourseError(f"setting {setting!r} needs the form section.field=value, "
                              "e.g. unlearn.lr=1e-4")
        name = name.strip()
        profile = _set(profile, name.split("."), text.strip(), name)
    return profile


def _set(owner, path: list[str], text: str, name: str):
    """A copy of `owner` (a config or a dict) with the setting at `path` replaced."""
    key, rest = path[0], path[1:]
    if isinstance(owner, dict):  # free keys, e.g. a method name, then a parameter
        current = owner.get(key, {} if rest else None)
        value = _set(current, rest, text, name) if rest else _parse(text, current, name)
        return {**owner, key: value}
    fields = getattr(owner, "__dataclass_fields__", None)
    if fields is None or key not in fields:
        where = ".".join(name.split(".")[: -len(path)]) or "profile"
        raise CourseError(f"no setting {name!r}: {where} has "
                          f"{', '.join(fields) if fields else 'no fields below it'}")
    current = getattr(owner, key)
    if isinstance(current, dict) and not rest:
        raise CourseError(f"{name} takes keys: e.g. {name}.npo.beta=0.05")
    value = _set(current, rest, text, name) if rest else _parse(text, current, name)
    return replace(owner, **{key: value})


def _parse(text: str, current, name: str):
    """`text` as the type of `current` (a field's present value)."""
    if text.lower() == "none":
        return None
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(int(v) for v in text.split(",") if v.strip())
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float) or current is None:
            return float(text) if current is not None or _number(text) else text
        return text
    except ValueError:
        raise CourseError(f"{name}={text!r}: expected a {type(current).__name__}") from None


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def model_label(model: str) -> str:
    """A folder-safe name: a local model folder's name, or the hub id with -- for /."""
    return Path(model).name if Path(model).is_dir() else model.replace("/", "--")


def run_dir(profile: str, model: str, seed: int = 0) -> Path:
    """The one run-folder rule: runs/<profile>/<model>, and .../seed-<k> for seed k > 0."""
    base = RUNS_DIR / profile / model_label(model)
    return base if seed == 0 else base / f"seed-{seed}"
