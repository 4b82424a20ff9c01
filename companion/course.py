"""Run the whole course headless: every notebook in order, timed, with executed copies."""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from pathlib import Path

from .config import PROJECT_ROOT, RUNS_DIR, CourseError, import_extra

nbformat = import_extra("nbformat")  # Colab has no need for these: an extra
NotebookClient = import_extra("nbclient").NotebookClient
CellExecutionError = import_extra("nbclient.exceptions").CellExecutionError
Config = import_extra("traitlets.config").Config

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def course_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course's notebooks in order: the ones named like `03_negative_finetuning.ipynb`."""
    notebooks = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise CourseError(f"no notebooks named like 00_name.ipynb in {folder}")
    return notebooks


def kernel_settings() -> Config:
    """Kernels that talk to us over local sockets, where the system has them.

    Over TCP (jupyter's default) ipykernel warns, for every notebook, that the
    traffic is unencrypted; a kernel on this machine needs no network at all, so
    it uses IPC (Unix domain sockets) and the warning has no cause. The socket
    files get an absolute path (a kernel runs in its notebook's folder, the client
    here). Windows has no IPC transport in ZeroMQ: there it stays on TCP.
    """
    config = Config()
    if os.name != "nt":
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(tempfile.gettempdir())
                                      / f"course-kernel-{uuid.uuid4().hex[:8]}")
    return config


def execute_notebook(path: Path, out: Path, timeout: int) -> tuple[float, str]:
    """Execute one notebook in its own folder; save the executed copy; (seconds, status)."""
    notebook = nbformat.read(path, as_version=4)
    config = kernel_settings()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            config=config,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        status = "ok"
    except CellExecutionError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # tracebacks carry colours
        lines = [x for x in plain.splitlines() if x.strip()]
        status = "failed: " + (lines[-1] if lines else "a cell raised")
    seconds = time.perf_counter() - start
    sockets = Path(config.KernelManager.get("ip", "")) if os.name != "nt" else None
    for leftover in sockets.parent.glob(f"{sockets.name}-*") if sockets else ():
        leftover.unlink(missing_ok=True)  # IPC socket files the kernel left behind
    nbformat.write(notebook, out / path.name)
    return seconds, status


def run_course(profile: str = "offline", out: Path | None = None,
               folder: Path = NOTEBOOKS_DIR, timeout: int = 3600) -> Path:
    """Execute every notebook under `profile`; write executed copies and summary.md."""
    out = Path(out or RUNS_DIR / profile)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_PROFILE"] = profile  # the kernels inherit it
    # the kernels use torch's default threads (one per core): notebooks run one at a
    # time, and a second thread trains the offline presets 1.7x faster on 2 cores
    # No progress bars in the executed copies: a bar is for watching a live cell, and
    # one saved mid-way (tqdm redraws a few times a second) shows a step it never
    # stopped at. The printed lines say how each stage ended.
    os.environ.setdefault("TQDM_DISABLE", "1")
    rows, total = [], 0.0
    for path in course_notebooks(folder):
        print(f"running {path.name} ...", flush=True)
        seconds, status = execute_notebook(path, out / "notebooks", timeout)
        total += seconds
        rows.append(f"| {path.stem} | {seconds:.1f} | {status} |")
        print(f"  {status} in {seconds:.1f} s", flush=True)
    summary = out / "summary.md"
    summary.write_text(
        f"# Course run, profile `{profile}`\n\n"
        f"Executed copies: `{out / 'notebooks'}`\n\n"
        "| notebook | seconds | status |\n| --- | ---: | --- |\n"
        + "\n".join(rows) + f"\n| **total** | **{total:.1f}** | |\n"
    )
    print(f"summary: {summary}")
    if any("failed" in row for row in rows):
        raise CourseError(f"some notebooks failed: see {summary}")
    return summary
