"""Independent root stages (baseline, oracle) built side by side in worker processes."""

import pytest
import torch
from toy import micro_profile, write_toy

from companion import checkpoints, parallel
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
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("COURSE_WORKERS", bad)
        with pytest.raises(CourseError, match="COURSE_WORKERS"):
            parallel.parallel_workers("cpu")
