"""Stage checkpoints: one folder per stage, written atomically, loaded or explained.

    runs/<profile>/<model>/<stage>/  model + tokenizer (save_pretrained, safetensors),
                                     settings.json (configs, seed, data, summary, time),
                                     history.json (the training history and checks)

A stage is first written to a hidden sibling folder and then renamed into place,
so an interrupted save never leaves half a checkpoint, and an existing stage is
only replaced when asked (overwrite=True): the baseline is never lost by accident.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

from . import models
from .config import RUNS_DIR, CourseError
from .stages import notebook_for


def stage_dir(root: str | Path, stage: str) -> Path:
    """Folder of one stage: <root>/<stage>; root is runs/<profile>/<model> or --out."""
    return Path(root) / stage


def has_stage(root: str | Path, stage: str) -> bool:
    """True when a complete checkpoint of `stage` is in `root`."""
    return (stage_dir(root, stage) / "settings.json").is_file()


def missing_stage_message(root: str | Path, stage: str) -> str:
    """One line: which checkpoint is missing and what makes it."""
    root = Path(root)
    try:  # runs/<profile>/<model>: the command can name them
        profile, model = root.resolve().relative_to(RUNS_DIR.resolve()).parts
        where = f"--profile {profile} --model {model.replace('--', '/')}"
    except ValueError:
        where = f"--out {root}"
    return (f"no {stage!r} checkpoint in {root}: run {notebook_for(stage)} "
            f"or `python -m companion train {stage} {where}`")


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


def save_stage(root: str | Path, stage: str, model, tokenizer, settings: dict,
               history: dict | None = None, overwrite: bool = False) -> Path:
    """Write `stage` under `root` atomically; an existing stage needs overwrite=True."""
    final = stage_dir(root, stage)
    if final.exists() and not overwrite:
        raise CourseError(f"{final} already exists: pass overwrite=True (--overwrite) "
                          f"to replace it, or choose another output folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{stage}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        models.save_model(model, tokenizer, tmp)  # refuses NaN/inf weights
        _write_json(tmp / "history.json", history or {"history": [], "checks": []})
        saved = time.strftime("%Y-%m-%d %H:%M:%S")
        settings = {"stage": stage, "saved": saved, **settings}
        _write_json(tmp / "settings.json", settings)  # written last: marks it complete
        _move_into_place(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only left when something failed
    return final


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an old `final` is set aside first and deleted last."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
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
