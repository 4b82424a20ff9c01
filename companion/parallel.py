"""Independent long stages built side by side, one process per CPU core.

A tiny preset does not keep two cores busy: one training run on two torch threads
is about 1.5x faster than on one, while two runs side by side, one thread each, make
1.3x the steps per second of one run on both cores; a run on both cores beside a
one-thread run makes 0.84x, worse than one after the other (more threads than cores;
bench/parallel_speed.py). So the stages that train from scratch and depend on
nothing else -- the baseline and the oracle (stages table, `after` is None) of each
model and seed -- are built side by side, one torch thread each, as many at once as
there are cores: the calling process builds its share, and worker processes (one
fewer than the cores: each loads torch and the data again, about 0.7 GB) build the
rest; everything after them stays in the calling process. Nothing else changes: a
worker calls `Run.ready`, so the stage folder, its lock (two notebooks never build
the same stage twice) and its checks are the same as when it is built in the notebook.

A worker is a fresh `python -m companion.parallel` that reads its jobs (pickled Runs
and stage names) from stdin: no multiprocessing bootstrapping, so a user's script
calling `run_study` needs no `if __name__ == "__main__"` guard. When the calling
process is interrupted (a notebook's stop button reaches only the kernel) or fails,
its workers are ended at once; the lock of a stage they were training names a process
that is gone and is taken over by the next build, and a stage folder is only ever
renamed into place complete (companion.checkpoints).

Only on a CPU with two cores or more, and only when two or more such stages are
missing: a GPU is one device to share, and a single stage is fastest on all cores.
`COURSE_WORKERS=1` turns it off (a machine already busy with other work; the tests,
whose toy stages train in less time than a worker takes to start).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from .config import CourseError
from .runtime import resolve_device
from .stages import stage as stage_row

PACKAGE_PARENT = Path(__file__).resolve().parents[1]  # workers import this companion


def parallel_workers(device="auto") -> int:
    """Worker processes for independent stages: $COURSE_WORKERS if set, else the
    cores; 1 on a GPU or in a process of `accelerate launch` (it has the cores)."""
    if resolve_device(device).type != "cpu" or "LOCAL_RANK" in os.environ:
        return 1
    chosen = os.environ.get("COURSE_WORKERS", "").strip()
    if chosen:  # unset or empty: the cores
        try:
            workers = int(chosen)
        except ValueError:
            workers = 0
        if workers < 1:
            raise CourseError(f"COURSE_WORKERS={chosen!r}: set it to a whole number "
                              "of processes, 1 or more (1: no parallel builds)")
        return workers
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _named(jobs: list[tuple]) -> list[str]:
    """"model seed stage" of each (run, stage) job, as printed and returned."""
    return [f"{run.model_name} seed {run.seed} {stage}" for run, stage in jobs]


def _start(jobs: list[tuple]) -> tuple[subprocess.Popen, object]:
    """A worker process building `jobs` one after another; (process, its log file)."""
    log = tempfile.TemporaryFile("w+", encoding="utf-8")  # a pipe could fill and block
    paths = [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    process = subprocess.Popen([sys.executable, "-m", "companion.parallel"],
                               stdin=subprocess.PIPE, stdout=log,
                               stderr=subprocess.STDOUT, env=env)
    # a fresh Run each (no loaded benchmark to pickle), quiet progress bars
    process.stdin.write(pickle.dumps([(replace(run, progress=False), stage)
                                      for run, stage in jobs]))
    process.stdin.close()
    return process, log


def _finish(process: subprocess.Popen, log, jobs: list[tuple]) -> None:
    """Wait for a worker, print what it printed; its failure as one CourseError line."""
    process.wait()
    log.seek(0)
    printed = log.read()
    log.close()
    print(printed, end="")
    if process.returncode != 0:
        lines = [line for line in printed.splitlines() if line.strip()]
        raise CourseError(f"building {', '.join(_named(jobs))} in a worker process "
                          "failed: "
                          f"{lines[-1] if lines else 'no output'} (COURSE_WORKERS=1 "
                          "builds it here instead)")


def build_roots(jobs: list[tuple], workers: int | None = None) -> list[str]:
    """Build the missing root stages of `jobs` ([(run, stage), ...]) in parallel.

    A root stage trains from scratch (baseline, oracle); other stages in `jobs` are
    ignored here (the caller ensures them in order). Returns the stages built, as
    "model seed stage" strings, after printing what each worker printed. Fewer than
    two missing, or one worker (a GPU, one core): builds nothing, returns [] (the
    caller's ensure builds them as usual). Raises CourseError when a worker fails.
    """
    unique = {(str(run.root), s): (run, s) for run, s in jobs}  # a Run is unhashable
    missing = [(run, s) for run, s in unique.values()
               if stage_row(s).after is None and not run.has(s)]
    workers = min(workers or parallel_workers(missing[0][0].device if missing else
                                              "auto"), len(missing))
    if workers < 2:
        return []
    print(f"building {len(missing)} independent stages in {workers} processes "
          "(one core each): " + ", ".join(_named(missing)))
    # round robin: this process takes every `workers`-th stage, each worker the rest
    shares = [missing[k::workers] for k in range(workers)]
    started = []
    try:
        started = [(*_start(share), share) for share in shares[1:]]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # this process is one of the workers meanwhile
        try:
            for run, stage in shares[0]:
                run.ready(stage)
        finally:
            torch.set_num_threads(threads)
        for process, log, share in started:
            _finish(process, log, share)
    except BaseException:  # an interrupt or an error here: the workers stop now
        for process, _, _ in started:
            process.kill()
            process.wait()
        raise
    return _named(missing)


def _work() -> None:
    """A worker's life: read its jobs from stdin, build each (Run.ready)."""
    torch.set_num_threads(1)
    for run, stage in pickle.load(sys.stdin.buffer):
        run.ready(stage)


if __name__ == "__main__":
    try:
        _work()
    except CourseError as error:  # one line, as the CLI prints it
        print(f"error: {error}")
        sys.exit(1)
