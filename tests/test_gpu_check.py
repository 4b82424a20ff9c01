"""bench/gpu_check.py, the prepared GPU measurement, checked on the CPU (--cpu-smoke)."""

import json
import sys
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import full_timing  # noqa: E402
import gpu_check  # noqa: E402


def test_the_cpu_smoke_run_measures_every_precision_and_prints_one_json(tmp_path, capsys):
    record = gpu_check.main(["--cpu-smoke", "--out", str(tmp_path / "check.json")])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((tmp_path / "check.json").read_text()) == record
    assert record["cpu_smoke"] and record["device"] == "cpu"
    assert set(record["train"]) == {"fp32", "bf16", "fp16"}
    fp32 = record["train"]["fp32"]
    assert fp32["tokens_per_s"] > 0 and fp32["loss_finite"] and fp32["steps"] >= 2
    for mode, result in record["train"].items():
        assert "skipped" in result or result["tokens_per_s"] > 0, mode
    fp16 = record["train"]["fp16"]
    assert "skipped" in fp16 or fp16["scale"] > 0  # measured through a GradScaler
    generated = record["generate"]
    assert generated["new_tokens_per_s"] > 0 and generated["new_tokens"] == 4


def test_the_gpu_shapes_are_the_timing_models_gpt2():
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(**gpu_check.GPT2_SMALL))
    n, layers, width = full_timing.MODELS["gpt2"]
    assert sum(p.numel() for p in model.parameters()) == n
    assert gpu_check.flops_per_token(model, 512) == 6 * n + 12 * layers * 512 * width


def test_without_a_gpu_the_full_run_says_to_use_the_smoke_mode(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        gpu_check.main([])
    assert stop.value.code == 2 and "--cpu-smoke" in capsys.readouterr().err
