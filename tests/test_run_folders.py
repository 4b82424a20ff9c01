"""Run folders shared by two course processes, interrupted saves, stale locks."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from companion import checkpoints, locks
from companion.config import PROJECT_ROOT, CourseError
from companion.models import save_model, train_tokenizer
from test_checkpoints import toy_model


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer([f"Item {n} is kept in box {n}." for n in range(60)], 300)


def _python(code: str) -> subprocess.Popen:
    """Another course process running `code` (the project importable)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # CI's slow tier (make test-slow)
def test_two_processes_evaluating_into_one_folder_keep_every_stage(tmp_path):
    # each process merges 30 stages into the same report.json, from the same moment
    code = """
        import sys, time, types
        from pathlib import Path
        from companion.config import EvalConfig
        from companion.evaluate import _write_stage
        model = types.SimpleNamespace(config=types.SimpleNamespace(_name_or_path="m"))
        time.sleep(max(0.0, START - time.time()))
        for k in range(60):
            stage = f"{sys.argv[1]}-{k}"
            result = types.SimpleNamespace(stage=stage, mia_losses={},
                                           to_dict=lambda: {"stage": stage})
            _write_stage(Path(sys.argv[2]), result, {}, model, EvalConfig())
    """
    start = time.time() + 8  # after both have imported the package
    runs = [_python(code.replace("sys.argv[1]", repr(name)).replace("START", str(start))
                    .replace("sys.argv[2]", repr(str(tmp_path)))) for name in "ab"]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report["stages"]) == sorted(f"{n}-{k}" for n in "ab" for k in range(60))
    assert not list(tmp_path.glob(".*"))  # no lock or temporary file left


@pytest.mark.slow  # CI's slow tier (make test-slow)
def test_a_stage_being_built_elsewhere_is_neither_rebuilt_nor_overwritten(tmp_path,
                                                                         tokenizer):
    holder = _python(f"""
        import time
        from companion import checkpoints
        with checkpoints.building({str(tmp_path)!r}, "baseline", wait=False):
            print("holding", flush=True)
            time.sleep(4)
    """)
    assert holder.stdout.readline().strip() == "holding"
    model = toy_model(tokenizer)
    with pytest.raises(CourseError, match=rf"being written by process {holder.pid} on "):
        checkpoints.save_stage(tmp_path, "baseline", model, tokenizer, {"seed": 0})
    assert f"being built by process {holder.pid}" in checkpoints.missing_stage_message(
        tmp_path, "baseline")
    start = time.perf_counter()
    with checkpoints.building(tmp_path, "baseline", wait=True):  # waits its turn
        assert time.perf_counter() - start > 1.0  # the holder sleeps 4 s
        checkpoints.save_stage(tmp_path, "baseline", model, tokenizer, {"seed": 0})
    assert holder.wait(timeout=30) == 0 and checkpoints.has_stage(tmp_path, "baseline")


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, tokenizer):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = locks.lock_path(tmp_path / "baseline")
    lock.write_text(json.dumps({"pid": gone.pid, "host": locks.HOST, "since": "then",
                                "token": "x"}))
    checkpoints.save_stage(tmp_path, "baseline", toy_model(tokenizer), tokenizer, {})
    assert checkpoints.has_stage(tmp_path, "baseline") and not lock.exists()
    lock = locks.lock_path(tmp_path / "kl")  # on another host: cannot be checked
    lock.write_text(json.dumps({"pid": 1, "host": "another-machine", "since": "then"}))
    with pytest.raises(CourseError, match=rf"another-machine.*delete {lock}"):
        checkpoints.save_stage(tmp_path, "kl", toy_model(tokenizer), tokenizer, {})


def test_an_incomplete_stage_folder_is_set_aside_never_deleted(tmp_path, tokenizer):
    # an interrupted copy, or a model saved by hand where a stage goes
    save_model(toy_model(tokenizer), tokenizer, tmp_path / "baseline")
    assert not checkpoints.has_stage(tmp_path, "baseline")
    message = checkpoints.missing_stage_message(tmp_path, "baseline")
    assert "is incomplete (no settings.json" in message and "train baseline" in message
    checkpoints.save_stage(tmp_path, "baseline", toy_model(tokenizer, 1), tokenizer, {})
    assert checkpoints.has_stage(tmp_path, "baseline")
    aside = list(tmp_path.glob("baseline.incomplete-*"))
    assert len(aside) == 1 and (aside[0] / "config.json").exists()


def test_settings_record_what_a_stage_depends_on(tmp_path, tokenizer):
    made = {"seed": 0, "data": "bundled", "configs": {"finetune": {"lr": 0.001}}}
    checkpoints.save_stage(tmp_path, "baseline", toy_model(tokenizer), tokenizer, made)
    checkpoints.save_stage(tmp_path, "stabilised", toy_model(tokenizer), tokenizer,
                           {"started_from": "baseline"})
    saved = checkpoints.read_settings(tmp_path, "stabilised")
    assert saved["started_from_id"] == checkpoints.read_settings(tmp_path,
                                                                 "baseline")["id"]
    assert checkpoints.check_reusable(tmp_path, "baseline", made)["seed"] == 0
    steeper = {**made, "configs": {"finetune": {"lr": 0.02}}, "seed": 1}
    with pytest.raises(CourseError, match=r"seed 0 -> 1; configs\.finetune\.lr 0\.001 "
                                          r"-> 0\.02\): to rebuild it, rename"):
        checkpoints.check_reusable(tmp_path, "baseline", steeper)
