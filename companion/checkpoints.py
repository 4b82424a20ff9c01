"""Stage checkpoints: one folder per stage, written atomically, loaded or explained.

    runs/<profile>/<model>/<stage>/  model + tokenizer (save_pretrained, safetensors),
                                     settings.json (configs, seed, data, summary, time),
                                     history.json (the training history and checks)

A stage is first written to a hidden sibling folder and then renamed into place,
so an interrupted save never leaves half a checkpoint, and an existing stage is
only replaced when asked (overwrite=True): the baseline is never lost by accident.

The rule for incomplete folders. A stage is complete when its settings.json is
there (written last). While a process builds a stage it holds `.<stage>.lock`
(companion.locks: its process and host), so a second process waits for it or is
told who is building it, and never trains the same stage twice. A stage folder
without settings.json and without a live lock is an interrupted copy or a folder
saved by hand: it counts as missing, and building the stage sets it aside as
`<stage>.incomplete-<time>` (never deleted) before the new one moves in.

A saved stage is reused only when made with the same settings: settings.json
records what it depends on (DEPENDS, and the id of the stage it started from),
and `check_reusable` refuses a stale one in one line that says how to rebuild it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from dataclasses import asdict, is_dataclass
from pathlib import Path

from . import locks, models
from .accelerated import full_state_dict, is_main_process, wait_for_everyone
from .config import RUNS_DIR, CourseError
from .methods import FORMER_FIELDS
from .stages import notebook_for


def stage_dir(root: str | Path, stage: str) -> Path:
    """Folder of one stage: <root>/<stage>; root is runs/<profile>/<model> or --out."""
    return Path(root) / stage


def has_stage(root: str | Path, stage: str) -> bool:
    """True when a complete checkpoint of `stage` is in `root`."""
    return (stage_dir(root, stage) / "settings.json").is_file()


def building(root: str | Path, stage: str, wait: bool = True):
    """Context manager: hold `stage`'s build lock in `root` (see the top)."""
    return locks.locked(locks.lock_path(stage_dir(root, stage)),
                        f"stage {stage!r} in {root}", wait)


def _where(root: Path) -> str:
    """The CLI options that name `root`: --profile/--model, or --out."""
    try:  # runs/<profile>/<model>: the command can name them
        profile, model = root.resolve().relative_to(RUNS_DIR.resolve()).parts
        return f"--profile {profile} --model {model.replace('--', '/')}"
    except ValueError:
        return f"--out {root}"


def missing_stage_message(root: str | Path, stage: str) -> str:
    """One line: which checkpoint is missing (or incomplete, or being built), and why."""
    root = Path(root)
    folder = stage_dir(root, stage)
    info = locks.holder(locks.lock_path(folder))
    if info is not None and not locks.is_stale(info):
        return (f"{folder} is being built by {locks.describe(info)}: wait for it "
                f"to finish, then run this again")
    what = f"no {stage!r} checkpoint in {root}"
    if folder.exists():
        what = (f"{folder} is incomplete (no settings.json: an interrupted copy or a "
                f"folder saved by hand; building sets it aside, never deletes it)")
    return (f"{what}: run {notebook_for(stage)} "
            f"or `python -m companion train {stage} {_where(root)}`")


def _plain(value):
    """JSON-safe copy: dataclasses to dicts, paths to text, NaN/inf to strings."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(_plain(value), indent=2) + "\n", encoding="utf-8")


def save_stage(root: str | Path, stage: str, model, tokenizer, settings: dict, *,
               history: dict | None = None, overwrite: bool = False) -> Path:
    """Write `stage` under `root` atomically; an existing stage needs overwrite=True.

    An incomplete folder of that name is set aside (see the top). settings.json
    gets the stage's `id` and, when settings name `started_from`, that stage's id.
    Under `accelerate launch`, process 0 writes and the others wait until it is done;
    a model sharded by FSDP is first gathered by every process (full_state_dict).
    """
    weights = full_state_dict(model)  # None unless sharded; a collective under FSDP
    if not is_main_process():
        wait_for_everyone()
        return stage_dir(root, stage)
    try:
        return _write_stage(root, stage, (model, weights), tokenizer, settings, history,
                            overwrite)
    finally:
        wait_for_everyone()


def _write_stage(root, stage, model_weights, tokenizer, settings, history,
                 overwrite) -> Path:
    model, weights = model_weights
    final = stage_dir(root, stage)
    with building(root, stage, wait=False):
        if has_stage(root, stage) and not overwrite:
            raise CourseError(f"{final} already exists: pass overwrite=True "
                              "(--overwrite) to replace it, or choose another output "
                              "folder")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{stage}.tmp-{locks.HOST}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            models.save_model(model, tokenizer, tmp, weights)  # refuses NaN/inf
            _write_json(tmp / "history.json", history or {"history": [], "checks": []})
            settings = {"stage": stage, "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "id": uuid.uuid4().hex, **settings,
                        **_started_from_id(root, settings.get("started_from"))}
            _write_json(tmp / "settings.json", settings)  # last: marks it complete
            if final.exists() and not has_stage(root, stage):
                _set_aside(final)
            _move_into_place(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # only left when something failed
    return final


def _started_from_id(root, start: str | None) -> dict:
    if start is None or not has_stage(root, start):
        return {}
    return {"started_from_id": read_settings(root, start).get("id")}


def _set_aside(folder: Path) -> Path:
    """Rename an incomplete stage folder out of the way; what it held is kept."""
    aside = folder.with_name(f"{folder.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(folder, aside)
    print(f"note: {folder} had no settings.json (incomplete); kept it as {aside}")
    return aside


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an old `final` is set aside first and deleted last."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = final.with_name(f".{final.name}.old-{locks.HOST}-{os.getpid()}")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:
        os.replace(old, final)  # put the previous checkpoint back
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_stage(root: str | Path, stage: str, device: str = "auto"):
    """(model, tokenizer) of a saved stage, or a CourseError naming what makes it."""
    if not has_stage(root, stage):
        raise CourseError(missing_stage_message(root, stage))
    return models.load_model(stage_dir(root, stage), device=device)


def _read_json(root: str | Path, stage: str, name: str):
    if not has_stage(root, stage):
        raise CourseError(missing_stage_message(root, stage))
    return json.loads((stage_dir(root, stage) / name).read_text(encoding="utf-8"))


def read_settings(root: str | Path, stage: str) -> dict:
    """The settings.json of a saved stage."""
    return _read_json(root, stage, "settings.json")


def read_history(root: str | Path, stage: str) -> dict:
    """The history.json of a saved stage: {"history": [...], "checks": [...]}."""
    return _read_json(root, stage, "history.json")


# ---------------------------------------------------------------- reuse
DEPENDS = ("model", "data", "max_docs_per_task", "seed", "started_from", "configs",
           "n_requests")  # the settings a saved stage is reused for


def _leaves(value, prefix: str = "") -> dict:
    """{"configs.unlearn.lr": 0.0005, ...}: the leaves of nested JSON-safe values."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in _leaves(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def _defaults(value):
    """`value` with every config dataclass in it replaced by its class's defaults."""
    if is_dataclass(value) and not isinstance(value, type):
        try:
            return type(value)()
        except TypeError:  # a dataclass without defaults for every field
            return value
    if isinstance(value, dict):
        return {k: _defaults(v) for k, v in value.items()}
    return _NOT_A_CONFIG  # model, data, seed...: no default stands in for them


_NOT_A_CONFIG = object()


def _renamed(leaves: dict) -> dict:
    """Saved leaves under today's names (methods.FORMER_FIELDS: method parameters)."""
    leaves = dict(leaves)
    for former, now in FORMER_FIELDS.items():
        if f"configs.unlearn.{former}" in leaves:
            value = leaves.pop(f"configs.unlearn.{former}")
            leaves.setdefault(f"configs.unlearn.params.{now}", value)
    return leaves


def stale_reasons(saved: dict, expected: dict, root=None) -> list[str]:
    """What differs between a stage's saved settings and `expected`: 'key saved -> now'."""
    keys = [k for k in DEPENDS if k in expected]
    now = _leaves(_plain({k: expected[k] for k in keys}))
    then = _renamed(_leaves(_plain({k: saved.get(k) for k in keys})))
    # a setting newer than the saved stage was, in effect, at its default then
    fresh = _leaves(_plain({k: _defaults(expected[k]) for k in keys}))
    then = {**{k: v for k, v in fresh.items() if v is not _NOT_A_CONFIG}, **then}
    reasons = [f"{k} {then.get(k)!r} -> {v!r}" for k, v in now.items()
               if then.get(k) != v]
    start = saved.get("started_from")
    if root is not None and "started_from_id" in saved and has_stage(root, start):
        if read_settings(root, start).get("id") != saved["started_from_id"]:
            reasons.append(f"{start!r} was rebuilt since")
    return reasons


def check_reusable(root: str | Path, stage: str, expected: dict) -> dict:
    """The saved settings of `stage`, or a CourseError when made with other settings.

    expected: the settings it would be built with now (DEPENDS keys). The saved
    stage is never replaced here: the message says how to rebuild it.
    """
    root = Path(root)
    saved = read_settings(root, stage)
    reasons = stale_reasons(saved, expected, root)
    if reasons:
        shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
        raise CourseError(f"{stage_dir(root, stage)} was made with other settings "
                          f"({shown}): to rebuild it, rename or delete that folder and "
                          "run again (it is never replaced silently), or use another "
                          "output folder")
    return saved
