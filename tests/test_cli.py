"""The command line, run as a user runs it."""

import json
import subprocess
import sys

import pytest

from companion.__main__ import main
from companion.config import PROJECT_ROOT, CourseError


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "companion", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_help_lists_the_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("models", "data", "train", "pipeline", "evaluate", "course",
                    "student", "profile"):
        assert command in result.stdout


def test_models_prints_each_preset_with_its_shape(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["tiny-gpt2"][1] == "4" and rows["tiny-distilgpt2"][1] == "2"
    assert int(rows["tiny-gpt2"][5].replace(",", "")) > int(
        rows["tiny-distilgpt2"][5].replace(",", ""))


def test_data_prints_counts_as_json(capsys):
    assert main(["data", "bundled"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts  # a JSON object with the row counts


def test_a_bad_source_is_one_line_on_stderr():
    result = run_cli("data", "/no/such/folder")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unknown_profile_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        main(["profile", "--profile", "turbo"])


def test_settings_override_any_profile_field():
    from companion.config import load_profile, override
    profile = override(load_profile("smoke", verbose=False),
                       ["unlearn.lr=1e-4", "unlearn.stop_rule=held_out", "seeds=0,1",
                        "unlearn.stop_regurgitation=none", "finetune.steps=7"])
    assert profile.unlearn.lr == 1e-4 and profile.unlearn.stop_rule == "held_out"
    assert profile.seeds == (0, 1) and profile.unlearn.stop_regurgitation is None
    assert profile.finetune.steps == 7 and isinstance(profile.finetune.steps, int)
    with pytest.raises(CourseError, match="unlearn has .*lr"):
        override(profile, ["unlearn.learning_rate=1"])
    with pytest.raises(CourseError, match="expected a int"):
        override(profile, ["finetune.steps=many"])


def test_a_methods_hyperparameter_is_a_setting_too():
    from companion.__main__ import SETTING
    from companion.config import load_profile, override
    assert SETTING.fullmatch("--unlearn.params.npo.beta=0.05")[1] == \
        "unlearn.params.npo.beta"
    profile = override(load_profile("smoke", verbose=False),
                       ["unlearn.params.npo.beta=0.05",
                        "unlearn.params.kl.kl_weight=2"])
    assert profile.unlearn.params == {"npo": {"beta": 0.05}, "kl": {"kl_weight": 2.0}}
    with pytest.raises(CourseError, match="unlearn.params takes keys"):
        override(profile, ["unlearn.params=1"])
    with pytest.raises(CourseError, match="unlearn.lr has no fields below it"):
        override(profile, ["unlearn.lr.x=1"])


@pytest.mark.slow  # CI's slow tier (make test-slow)
def test_a_setting_on_the_command_line_reaches_the_stage(tmp_path):
    result = run_cli("train", "baseline", "--profile", "smoke", "--out", str(tmp_path),
                     "--finetune.steps=3")
    assert result.returncode == 0, result.stderr
    settings = json.loads((tmp_path / "baseline" / "settings.json").read_text())
    assert settings["configs"]["finetune"]["steps"] == 3
    bad = run_cli("train", "baseline", "--profile", "smoke", "--finetune.stepz=3")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
