"""Profiles, seeding and devices."""

import pytest
import torch

from companion import config, runtime
from companion.config import CourseError, load_profile
from companion.runtime import resolve_device, set_seed


def test_named_profiles_resolve(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    for name in ("smoke", "offline", "full"):
        assert load_profile(name, verbose=False).name == name


def test_profile_read_from_environment(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "offline")
    profile = load_profile()
    assert profile.name == "offline"
    assert "COURSE_PROFILE" in profile.reason
    assert "offline" in capsys.readouterr().out  # what is picked is printed


def test_auto_without_gpu_is_offline(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    profile = load_profile("auto", verbose=False)
    assert profile.name == "offline" and "no GPU" in profile.reason


def test_auto_with_gpu_but_no_hub_is_offline(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runtime, "hub_reachable", lambda: False)
    profile = load_profile("auto", verbose=False)
    assert profile.name == "offline" and "Hub" in profile.reason


def test_auto_with_gpu_and_hub_is_full(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runtime, "hub_reachable", lambda: True)
    assert load_profile("auto", verbose=False).name == "full"


def test_unknown_profile_is_one_clear_line():
    with pytest.raises(CourseError, match="unknown profile 'fast'.*COURSE_PROFILE") as err:
        load_profile("fast")
    assert "\n" not in str(err.value)


def test_smoke_is_smaller_than_offline():
    smoke, offline = load_profile("smoke", False), load_profile("offline", False)
    assert smoke.finetune.steps < offline.finetune.steps
    assert smoke.max_docs_per_task is not None and offline.max_docs_per_task is None


def test_hub_unreachable_offline_is_instant(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert runtime.hub_reachable() is False


def test_set_seed_repeats_logits():
    from transformers import GPT2Config, GPT2LMHeadModel

    def logits():
        set_seed(7)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16,
                                           n_layer=1, n_head=2)).eval()
        ids = torch.randint(0, 50, (2, 8))
        return model(ids).logits

    assert torch.equal(logits(), logits())


def test_device_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setenv("LOCAL_RANK", "1")  # the second process of `accelerate launch`
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")


def test_course_settings_change_the_profile_notebooks_read(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SETTINGS", "seeds=0,1,2 unlearn.lr=1e-4")
    profile = config.load_profile("offline")
    assert profile.seeds == (0, 1, 2) and profile.unlearn.lr == 1e-4
    assert "COURSE_SETTINGS: seeds=0,1,2 unlearn.lr=1e-4" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_SETTINGS", "unlearn.speed=3")
    with pytest.raises(config.CourseError, match="no setting 'unlearn.speed'"):
        config.load_profile("offline")
