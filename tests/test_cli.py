"""The command line, run as a user runs it."""

import json
import subprocess
import sys

import pytest

from companion.__main__ import main
from companion.config import PROJECT_ROOT


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
