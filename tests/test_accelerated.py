"""accelerate under the training loop: precision per device, shards, two processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from companion.accelerated import choose_precision, make_accelerator, shard
from companion.config import CourseError
from companion.guard import stop_on_nonfinite

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "data_parallel_probe.py"
LOSS_TOLERANCE = 1e-5  # relative: 2 processes vs 1 (float reduction order only)


def test_precision_is_chosen_per_device():
    assert choose_precision(torch.device("cpu")) == "no"
    assert choose_precision(torch.device("mps")) == "no"
    assert choose_precision(torch.device("cuda"), bf16=True) == "bf16"  # A100, H100
    assert choose_precision(torch.device("cuda"), bf16=False) == "fp16"  # T4, V100


def test_a_cpu_model_trains_in_fp32_without_a_loss_scaler():
    accelerator = make_accelerator(torch.device("cpu"))
    assert accelerator.mixed_precision == "no" and accelerator.scaler is None
    assert accelerator.device.type == "cpu"


def test_an_unknown_precision_is_one_line(monkeypatch):
    monkeypatch.setenv("COURSE_PRECISION", "fp8-please")
    with pytest.raises(CourseError, match="unknown precision 'fp8-please'"):
        make_accelerator(torch.device("cpu"))


def test_shards_are_disjoint_and_cover_the_batch():
    batch = {"input_ids": torch.arange(10).view(5, 2), "labels": torch.arange(10).view(5, 2)}
    parts = [shard(batch, k, 2) for k in range(2)]
    assert [p["input_ids"][:, 0].tolist() for p in parts] == [[0, 4, 8], [2, 6]]
    pair = shard((batch, batch), 1, 2)
    assert pair[0]["labels"][:, 0].tolist() == [2, 6] == pair[1]["labels"][:, 0].tolist()
    tiny = {"input_ids": torch.tensor([[7]])}
    assert shard(tiny, 1, 2)["input_ids"].tolist() == [[7]]  # never an empty shard
    assert shard(batch, 0, 1) is batch


def test_an_fp16_overflow_is_a_skipped_step_not_a_divergence():
    overflow = {"loss": 2.0, "grad_norm": float("inf"), "overflow": True}
    assert stop_on_nonfinite(3, overflow) is None
    assert "grad_norm" in stop_on_nonfinite(3, {"loss": 2.0, "grad_norm": float("inf")})
    assert "loss" in stop_on_nonfinite(3, {**overflow, "loss": float("nan")})


def _launch(out: Path, mode: str, processes: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(PROBE), str(out), mode]
    else:  # accelerate's --cpu alone starts one process; --multi_gpu starts torchrun
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                   "--num_processes", str(processes), "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no",
                   str(PROBE), str(out), mode]
    subprocess.run(command, env=env, check=True, timeout=600, capture_output=True)
    return [json.loads((out / f"rank-{k}.json").read_text()) for k in range(processes)]


@pytest.mark.slow
def test_two_cpu_processes_follow_the_one_process_loss_curve(tmp_path):
    (one,) = _launch(tmp_path / "one", "go", 1)
    first, second = _launch(tmp_path / "two", "go", 2)
    assert first["history"] == second["history"]  # logged means agree across processes
    for a, b in zip(one["history"], first["history"], strict=True):
        assert a["step"] == b["step"]
        assert abs(a["loss"] - b["loss"]) <= LOSS_TOLERANCE * a["loss"], (a, b)
    # each micro-batch: process 0 holds rows 0, 2, 4, ... and process 1 rows 1, 3, ...
    assert len(one["seen"]) == len(first["seen"]) == len(second["seen"])
    for whole, mine, theirs in zip(one["seen"], first["seen"], second["seen"]):
        assert mine == whole[0::2] and theirs == whole[1::2]


@pytest.mark.slow
def test_a_stop_decided_by_the_main_process_reaches_every_process(tmp_path):
    first, second = _launch(tmp_path / "stop", "stop", 2)
    for record in (first, second):
        assert record["steps"] == 6 and record["stopped"].startswith("stopped by the main")
