"""Independent root stages (baseline, oracle) built side by side in worker processes."""

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import torch
from toy import micro_profile, write_toy

from companion import checkpoints, locks, parallel
from companion.config import CourseError
from companion.pipeline import make_run


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    write_toy(root, "toy-model")
    return root, micro_profile(root, 12, 2, steps=2, check_every=2)


def _run(toy, folder: str):
    root, profile = toy
    return make_run(profile, str(root / "toy-model"), out=root / folder, progress=False)


@pytest.mark.slow  # worker processes, each importing torch: the slow tier
def test_roots_are_built_by_workers_as_in_process(toy):
    run = _run(toy, "two-workers")
    jobs = [(run, "oracle"), (run, "baseline"), (run, "stabilised")]
    built = parallel.build_roots(jobs, workers=2)
    assert built == [f"{run.model_name} seed 0 oracle", f"{run.model_name} seed 0 baseline"]
    assert run.has("oracle") and run.has("baseline")
    assert not run.has("stabilised")  # not a root: the caller ensures it in order
    assert parallel.build_roots(jobs, workers=2) == []  # nothing left to build
    alone = _run(toy, "in-process")  # the same stage, built here on one thread
    alone.ensure("baseline")
    ours = checkpoints.load_stage(alone.root, "baseline", "cpu")[0].state_dict()
    theirs = checkpoints.load_stage(run.root, "baseline", "cpu")[0].state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    run.ensure("stabilised")  # the worker's baseline is reused: its settings match


@pytest.mark.slow  # worker processes, each importing torch: the slow tier
def test_the_pipeline_says_reusing_only_of_stages_it_found_saved(toy, monkeypatch, capsys):
    from companion.pipeline import run_pipeline
    root, profile = toy
    monkeypatch.setenv("COURSE_WORKERS", "2")
    args = dict(profile=profile, model_name=str(root / "toy-model"),
                method="gradient_ascent", out=root / "pipeline")
    run_pipeline(**args)  # baseline beside oracle in two processes, then the method
    first = capsys.readouterr().out
    assert "building 2 independent stages" in first and "reusing" not in first
    run_pipeline(**args)
    said = capsys.readouterr().out
    assert [s for s in ("baseline", "oracle", "gradient_ascent")
            if f"{s}: reusing" in said] == ["baseline", "oracle", "gradient_ascent"]


def test_one_worker_or_one_stage_builds_nothing_here(toy):
    run = _run(toy, "one-worker")
    assert parallel.build_roots([(run, "oracle"), (run, "baseline")], workers=1) == []
    assert parallel.build_roots([(run, "oracle")], workers=2) == []
    assert not run.has("oracle") and not run.has("baseline")


def test_workers_are_the_cores_or_what_the_user_chose(monkeypatch):
    monkeypatch.delenv("COURSE_WORKERS", raising=False)  # the tests set 1
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1},
                        raising=False)
    assert parallel.parallel_workers("cpu") == 2
    assert parallel.parallel_workers("cuda") == 1  # one device to share
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert parallel.parallel_workers("cpu") == 1
    monkeypatch.setenv("COURSE_WORKERS", "3")
    assert parallel.parallel_workers("cpu") == 3
    monkeypatch.setenv("COURSE_WORKERS", " 2 ")  # as the other COURSE_* variables
    assert parallel.parallel_workers("cpu") == 2
    monkeypatch.setenv("COURSE_WORKERS", "")  # empty: unset, the cores
    assert parallel.parallel_workers("cpu") == 1
    for bad in ("0", "two", "-1", "\u00b2"):
        monkeypatch.setenv("COURSE_WORKERS", bad)
        with pytest.raises(CourseError, match="COURSE_WORKERS"):
            parallel.parallel_workers("cpu")


class _Failing:
    """A Run whose own build fails at once (an interrupt, a bad setting, ...)."""

    def __init__(self, run):
        self.run = run

    def __getattr__(self, name):
        return getattr(self.run, name)

    def ready(self, stage):
        raise KeyboardInterrupt  # the stop button of a notebook


def test_an_interrupt_here_stops_the_workers_at_once(toy):
    root, profile = toy
    long = replace(profile, finetune=replace(profile.finetune, steps=100_000))
    slow = make_run(long, str(root / "toy-model"), out=root / "stopped", progress=False)
    here = _Failing(_run(toy, "fails-here"))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        parallel.build_roots([(here, "oracle"), (slow, "baseline")], workers=2)
    assert time.monotonic() - started < 60  # not after the worker's 100,000 steps
    assert not psutil.Process().children()  # no worker left training
    assert not slow.has("baseline")
    lock = locks.holder(locks.lock_path(checkpoints.stage_dir(slow.root, "baseline")))
    assert lock is None or locks.is_stale(lock)  # a later build takes it over


@pytest.mark.slow  # worker processes, each importing torch: the slow tier
def test_a_worker_failure_is_one_clear_line(toy):
    root, profile = toy
    broken = make_run(replace(profile, data=str(root / "no-such-data")),
                      str(root / "toy-model"), out=root / "broken", progress=False)
    with pytest.raises(CourseError, match="in a worker process failed: error: .*"
                                          "COURSE_WORKERS=1"):
        parallel.build_roots([(_run(toy, "fine"), "oracle"), (broken, "oracle")],
                             workers=2)


@pytest.mark.slow  # worker processes, each importing torch: the slow tier
def test_a_script_without_a_main_guard_runs_once(toy, tmp_path):
    root, _ = toy
    script = tmp_path / "study.py"  # what a user might write: no __main__ guard
    script.write_text(f"""import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from toy import micro_profile
from companion import parallel
from companion.pipeline import make_run
print("top level ran", flush=True)
run = make_run(micro_profile(Path({str(root)!r}), 12, 2, steps=2), {str(root / "toy-model")!r},
               out={str(tmp_path / "runs")!r}, progress=False)
parallel.build_roots([(run, "oracle"), (run, "baseline")], workers=2)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("top level ran") == 1
