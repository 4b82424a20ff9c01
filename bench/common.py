"""What every benchmark script shares: the machine it ran on, and writing its JSON.

Each script writes bench/<name>.json (or --out) holding the command, the machine
(cores, threads, torch, transformers), the date and its numbers; run_all.py turns
those files into bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub call would hang ~50 s


def machine() -> dict:
    """Cores, threads and library versions of this run."""
    import torch
    import transformers

    return {"cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__}


def machine_line(info: dict) -> str:
    """One short line for a table cell: '2 cores, 2 threads, torch 2.13.0+cpu'."""
    return (f"{info.get('cores')} cores, {info.get('threads')} threads, "
            f"torch {info.get('torch')}")


def now() -> str:
    """The date and time in UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


PATH_OPTIONS = {"--runs-dir": "NEW_FOLDER", "--out-dir": "FOLDER", "--out": "FILE"}


def command(script: str, argv: list[str] | None) -> str:
    """The command line that reproduces this run."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args[:-1]):
        if arg in PATH_OPTIONS:  # a folder of this machine: named, not given
            args[i + 1] = PATH_OPTIONS[arg]
    return " ".join([".venv/bin/python", f"bench/{script}", *args]).strip()


def write_result(path: Path, script: str, argv, results: dict) -> dict:
    """Write {command, machine, date, **results} as JSON to `path`; return it."""
    record = {"command": command(script, argv), "machine": machine(), "date": now(),
              **results}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return record


def median(values) -> float:
    """The median of a non-empty list of numbers."""
    return float(statistics.median(values))
