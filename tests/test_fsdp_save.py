"""Saving a model sharded by FSDP: every process gathers, process 0 writes whole weights.

The slow test trains a tiny GPT-2 for a few steps sharded over two CPU processes
(gloo, torch's FSDP-2 `fully_shard`, as accelerate uses on GPUs) and saves it
with checkpoints.save_stage; the saved folder must load as an ordinary model and
equal the same training in one unsharded process. Multi-GPU FSDP itself cannot
run here (no GPU; accelerate enables FSDP only for GPU-type processes).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from companion import checkpoints
from companion.accelerated import full_state_dict, is_sharded
from companion.models import build_preset, course_tokenizer, save_model

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "fsdp_probe.py"
TOLERANCE = 1e-5  # absolute, per weight: float reduction order only


def test_an_unsharded_model_is_saved_from_its_own_weights():
    model = build_preset("tiny-distilgpt2", course_tokenizer())
    assert not is_sharded(model) and full_state_dict(model) is None


def test_given_weights_are_the_ones_written_and_checked(tmp_path):
    tokenizer = course_tokenizer()
    model = build_preset("tiny-distilgpt2", tokenizer)
    zeros = lambda: {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    save_model(model, tokenizer, tmp_path / "zeros", zeros())  # save_pretrained edits it
    loaded = type(model).from_pretrained(tmp_path / "zeros")
    assert all(not p.any() for p in loaded.parameters())
    assert any(p.any() for p in model.parameters())  # the model's own were not written
    weights = zeros()
    weights["transformer.wpe.weight"][0, 0] = float("nan")
    with pytest.raises(Exception, match="NaN/inf"):
        save_model(model, tokenizer, tmp_path / "nan", weights)


def _run(out: Path, mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(PROBE), str(out), mode]
    if mode == "fsdp":
        command[1:1] = ["-m", "accelerate.commands.launch", "--multi_gpu",
                        "--num_processes", "2", "--num_machines", "1",
                        "--mixed_precision", "no", "--dynamo_backend", "no"]
    done = subprocess.run(command, env=env, timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_an_fsdp_sharded_model_is_saved_whole_and_equals_one_process(tmp_path):
    _run(tmp_path / "one", "one")
    _run(tmp_path / "fsdp", "fsdp")
    one, _ = checkpoints.load_stage(tmp_path / "one", "baseline", "cpu")
    sharded, _ = checkpoints.load_stage(tmp_path / "fsdp", "baseline", "cpu")
    assert checkpoints.read_settings(tmp_path / "fsdp", "baseline")["mode"] == "fsdp"
    expected, saved = one.state_dict(), sharded.state_dict()
    assert saved.keys() == expected.keys()
    for name, tensor in expected.items():
        assert saved[name].shape == tensor.shape, name  # whole, not one shard
        assert torch.allclose(saved[name], tensor, atol=TOLERANCE), name
    untrained = build_preset("tiny-distilgpt2", course_tokenizer()).state_dict()
    assert not torch.equal(saved["transformer.h.0.attn.c_attn.weight"],
                           untrained["transformer.h.0.attn.c_attn.weight"])
