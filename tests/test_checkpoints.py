"""Stage folders: round trip, no silent overwrite, atomic writes, helpful errors."""

import json
import math

import pytest
import torch

from companion import checkpoints
from companion.config import RUNS_DIR, CourseError, TrainConfig
from companion.models import train_tokenizer
from toy import tiny_gpt2


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer([f"Item {n} is kept in box {n}." for n in range(30)], 300)


def toy_model(tokenizer, seed=0):
    return tiny_gpt2(tokenizer, seed, n_positions=32, n_layer=1)


def same_weights(a, b):
    sb = b.state_dict()
    return all(torch.equal(v, sb[k]) for k, v in a.state_dict().items())


def test_a_stage_round_trips_with_its_settings_and_history(tmp_path, tokenizer):
    model = toy_model(tokenizer)
    history = {"history": [{"step": 1, "loss": math.inf}], "checks": []}
    folder = checkpoints.save_stage(tmp_path, "baseline", model, tokenizer,
                                    {"seed": 3, "configs": {"finetune": TrainConfig()}},
                                    history=history)
    assert folder == tmp_path / "baseline"
    assert checkpoints.has_stage(tmp_path, "baseline")
    loaded, loaded_tokenizer = checkpoints.load_stage(tmp_path, "baseline", "cpu")
    assert same_weights(model, loaded) and len(loaded_tokenizer) == len(tokenizer)
    settings = checkpoints.read_settings(tmp_path, "baseline")
    assert settings["stage"] == "baseline" and settings["seed"] == 3
    assert settings["configs"]["finetune"]["steps"] == TrainConfig().steps
    assert checkpoints.read_history(tmp_path, "baseline")["history"][0]["loss"] == "inf"
    assert [p.name for p in tmp_path.iterdir()] == ["baseline"]  # no temporary left


def test_an_existing_stage_is_only_replaced_when_asked(tmp_path, tokenizer):
    first, second = toy_model(tokenizer, 0), toy_model(tokenizer, 1)
    checkpoints.save_stage(tmp_path, "baseline", first, tokenizer, {"seed": 0})
    with pytest.raises(CourseError, match="already exists.*overwrite"):
        checkpoints.save_stage(tmp_path, "baseline", second, tokenizer, {"seed": 1})
    assert checkpoints.read_settings(tmp_path, "baseline")["seed"] == 0
    checkpoints.save_stage(tmp_path, "baseline", second, tokenizer, {"seed": 1},
                           overwrite=True)
    loaded, _ = checkpoints.load_stage(tmp_path, "baseline", device="cpu")
    assert same_weights(second, loaded)
    assert [p.name for p in tmp_path.iterdir()] == ["baseline"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_interrupted_write_leaves_the_previous_checkpoint_intact(
        tmp_path, tokenizer, monkeypatch, overwrite):
    first = toy_model(tokenizer, 0)
    checkpoints.save_stage(tmp_path, "npo", first, tokenizer, {"seed": 0})
    stage = "npo" if overwrite else "kl"  # replace it, or add a stage beside it

    def crash(model, tok, folder, state_dict=None):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.models, "save_model", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_stage(tmp_path, stage, toy_model(tokenizer, 1), tokenizer,
                               {"seed": 1}, overwrite=overwrite)
    loaded, _ = checkpoints.load_stage(tmp_path, "npo", device="cpu")
    assert same_weights(first, loaded)
    assert checkpoints.read_settings(tmp_path, "npo")["seed"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["npo"]


def test_nan_weights_are_never_written(tmp_path, tokenizer):
    model = toy_model(tokenizer)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] = math.nan
    with pytest.raises(CourseError, match="NaN"):
        checkpoints.save_stage(tmp_path, "sequential", model, tokenizer, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage, notebook", [
    ("baseline", "notebooks/01_baseline_finetuning.ipynb"),
    ("stabilised", "notebooks/02_retain_stabilisation.ipynb"),
    ("sequential", "notebooks/03_negative_finetuning.ipynb"),
    ("npo", "notebooks/03_negative_finetuning.ipynb"),
    ("request-2", "notebooks/06_sequential_requests.ipynb")])
def test_a_missing_stage_names_the_notebook_and_the_command(tmp_path, stage, notebook):
    with pytest.raises(CourseError) as error:
        checkpoints.load_stage(tmp_path, stage)
    message = str(error.value)
    assert notebook in message and f"python -m companion train {stage} --out" in message
    assert "\n" not in message


def test_the_command_names_profile_and_model_under_runs():
    message = checkpoints.missing_stage_message(RUNS_DIR / "offline" / "tiny-gpt2",
                                                "stabilised")
    command = "python -m companion train stabilised --profile offline --model tiny-gpt2"
    assert f"`{command}`" in message


def test_settings_are_plain_json(tmp_path, tokenizer):
    checkpoints.save_stage(tmp_path, "kl", toy_model(tokenizer), tokenizer,
                           {"path": tmp_path, "values": (1.0, math.nan)})
    text = (tmp_path / "kl" / "settings.json").read_text()
    assert json.loads(text)["values"] == [1.0, "nan"]


def test_a_stage_older_than_a_setting_counts_as_made_with_its_default():
    from companion.config import TrainConfig
    older = {k: v for k, v in vars(TrainConfig()).items() if k != "precision"}
    saved = {"configs": {"finetune": older}, "seed": 0}
    assert checkpoints.stale_reasons(saved, {"configs": {"finetune": TrainConfig()},
                                             "seed": 0}) == []
    changed = {"configs": {"finetune": TrainConfig(precision="fp32")}, "seed": 0}
    assert checkpoints.stale_reasons(saved, changed) == [
        "configs.finetune.precision 'auto' -> 'fp32'"]
    assert checkpoints.stale_reasons({"configs": saved["configs"]},
                                     {"configs": {"finetune": TrainConfig()},
                                      "seed": 0}) == ["seed None -> 0"]
