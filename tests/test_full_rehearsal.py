"""The `full` profile's code path on tiny random models saved as hub models are.

A GPT-2-architecture folder (GPT-2's config class and tokenizer API, no pad token)
goes through baseline -> stabilise -> unlearn -> evaluation under the full profile's
shapes (bench/full_rehearsal.py), on the bundled data and on the real SemEval-2025
files when they are beside the project; OLMo-architecture folders (the SemEval
targets' family) train and evaluate; a model whose context is shorter than the
profile's sequences trains on long documents without an index error.
"""

import json
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from companion.config import TrainConfig, load_profile
from companion.models import load_model, save_random_model
from companion.train import finetune, fit_context

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import full_rehearsal  # noqa: E402


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("models") / "gpt2", "gpt2")


def test_the_random_folder_is_shaped_like_gpt2_as_shipped(gpt2_folder):
    config = json.loads((gpt2_folder / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["n_positions"] == 1024
    tokenizer = AutoTokenizer.from_pretrained(gpt2_folder)
    assert type(tokenizer).__name__ == "GPT2Tokenizer" and tokenizer.pad_token is None


def test_overrides_name_what_is_really_used(gpt2_folder, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MODEL", str(gpt2_folder))
    monkeypatch.setenv("COURSE_DATA", "bundled")
    profile = load_profile("full")
    assert (profile.model, profile.data) == (str(gpt2_folder), "bundled")
    line = capsys.readouterr().out
    assert f"model {gpt2_folder}, data bundled" in line
    assert load_profile("full", model="tiny-gpt2", verbose=False).model == "tiny-gpt2"


@pytest.mark.slow
@pytest.mark.parametrize("data", full_rehearsal.sources())
def test_full_profile_runs_end_to_end_on_a_local_gpt2_folder(gpt2_folder, data,
                                                             tmp_path):
    record = full_rehearsal.rehearse(str(gpt2_folder), data, tmp_path)
    assert record["report"] and (tmp_path / "report.json").exists()
    stages = record["stages"]
    assert set(stages) == {"oracle", "baseline", "stabilised", "sequential"}
    for stage in stages.values():
        assert 0.0 <= stage["final_score"] <= 1.0
    steps = {name: stage["steps"] for name, stage in stages.items()}
    assert steps == {"oracle": 3, "baseline": 3, "stabilised": 2, "sequential": 2}
    saved = json.loads((tmp_path / "baseline" / "settings.json").read_text())
    assert saved["profile"] == "full" and saved["model"] == str(gpt2_folder)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["olmo", "olmo2"])
def test_an_olmo_architecture_folder_trains_and_evaluates(architecture, tmp_path):
    folder = save_random_model(tmp_path / architecture, architecture)
    record = full_rehearsal.rehearse(str(folder), "bundled", tmp_path / "run")
    assert record["report"] and set(record["stages"]) == {
        "oracle", "baseline", "stabilised", "sequential"}
    config = json.loads((tmp_path / "run" / "sequential" / "config.json").read_text())
    assert config["model_type"] == architecture


def test_documents_longer_than_the_context_are_cut_not_crashed_on(tmp_path):
    folder = save_random_model(tmp_path / "short", "gpt2", context=32)
    model, tokenizer = load_model(str(folder), "cpu")
    config = TrainConfig(steps=2, batch_size=2, max_length=512, log_every=1)
    assert fit_context(config, model, tokenizer).max_length == 32
    long_text = " ".join(["the river runs past the old mill"] * 40)  # > 200 tokens
    result = finetune(model, tokenizer, [long_text, long_text[:50]], config,
                      progress=False)
    assert result.steps == 2 and result.stopped == "max steps"
