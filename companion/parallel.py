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
rest; everything after them stays in the calling process. Nothing else changes: a worker calls `Run.ensure`, so the stage folder, its lock (two
notebooks never build the same stage twice) and its checks are the same as when it
is built in the notebook.

Only on a CPU with two cores or more, and only when two or more such stages are
missing: a GPU is one device to share, and a single stage is fastest on all cores.
`COURSE_WORKERS=1` turns it off (a machine already busy with other work; the tests,
whose toy stages train in less time than a worker takes to start).
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import redirect_stdout
from dataclasses import replace
from multiprocessing import get_context

import torch

from .config import CourseError
from .runtime import resolve_device
from .stages import stage as stage_row


def _one_thread() -> None:
    torch.set_num_threads(1)


def _build(run, stage: str) -> str:
    """In a worker: build `stage` of `run` (Run.ensure); what it printed, as text."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        run.ensure(stage)
    return printed.getvalue()


def parallel_workers(device="auto") -> int:
    """Worker processes for independent stages: $COURSE_WORKERS if set, else the
    cores; 1 on a GPU or in a process of `accelerate launch` (it has the cores)."""
    if resolve_device(device).type != "cpu" or "LOCAL_RANK" in os.environ:
        return 1
    if (chosen := os.environ.get("COURSE_WORKERS")) is not None:
        if not chosen.isdigit() or int(chosen) < 1:
            raise CourseError(f"COURSE_WORKERS={chosen!r}: set it to a whole number "
                              "of processes, 1 or more (1: no parallel builds)")
        return int(chosen)
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def build_roots(jobs: list[tuple], workers: int | None = None) -> list[str]:
    """Build the missing root stages of `jobs` ([(run, stage), ...]) in parallel.

    A root stage trains from scratch (baseline, oracle); other stages in `jobs` are
    ignored here (the caller ensures them in order). Returns the stages built, as
    "model seed stage" strings, after printing what each worker printed. Fewer than
    two missing, or one worker (a GPU, one core): builds nothing, returns [] (the
    caller's ensure builds them as usual). Errors of a worker are raised here.
    """
    unique = {(str(run.root), s): (run, s) for run, s in jobs}  # a Run is unhashable
    missing = [(run, s) for run, s in unique.values()
               if stage_row(s).after is None and not run.has(s)]
    workers = min(workers or parallel_workers(missing[0][0].device if missing else
                                              "auto"), len(missing))
    if workers < 2:
        return []
    print(f"building {len(missing)} independent stages in {workers} processes "
          "(one core each): " + ", ".join(f"{r.model_name} seed {r.seed} {s}"
                                         for r, s in missing))
    # round robin: this process takes every `workers`-th stage, the pool the others
    here = missing[::workers]
    there = [job for i, job in enumerate(missing) if i % workers]
    spawn = get_context("spawn")  # a fresh interpreter: safe from a notebook kernel
    with ProcessPoolExecutor(workers - 1, mp_context=spawn,
                             initializer=_one_thread) as pool:
        # a fresh Run each (no loaded benchmark to pickle), quiet progress bars
        futures = [pool.submit(_build, replace(run, progress=False), s)
                   for run, s in there]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # this process is one of the workers meanwhile
        try:
            for run, stage in here:
                run.ensure(stage)
        finally:
            torch.set_num_threads(threads)
        for future in futures:
            print(future.result(), end="")
    return [f"{r.model_name} seed {r.seed} {s}" for r, s in missing]
