"""The Colab setup cell: the same in every notebook, and safe to run twice."""

import sys
import types
from pathlib import Path

import pytest

from companion import colab


def run_cell(tmp_path, monkeypatch, on_colab=True) -> list[str]:
    """Execute SETUP_CELL with /content under tmp_path; returns the shell commands run."""
    commands = []

    def fake_run(command, shell, check):  # clone and pip leave what they would leave
        commands.append(command)
        course = tmp_path / "content" / "course"
        if command.startswith("git clone"):
            course.mkdir(parents=True)
            (course / "pyproject.toml").write_text("")
        if command.startswith("pip install"):
            (course / ".installed").write_text("")

    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("subprocess.run", fake_run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    source = colab.SETUP_CELL.replace("/content", str(tmp_path / "content"))
    exec(compile(source, "setup cell", "exec"), {})
    return commands


def test_the_cell_clones_and_installs_once_then_does_nothing(tmp_path, monkeypatch):
    first = run_cell(tmp_path, monkeypatch)
    assert [c.split()[:2] for c in first] == [["git", "clone"], ["pip", "install"]]
    assert colab.REPOSITORY in first[0]
    again = run_cell(tmp_path, monkeypatch)
    assert again == []
    course = str(tmp_path / "content" / "course")
    assert sys.path.count(course) == 1


def test_an_interrupted_install_is_finished_on_the_next_run(tmp_path, monkeypatch):
    (tmp_path / "content" / "course").mkdir(parents=True)
    (tmp_path / "content" / "course" / "pyproject.toml").write_text("")
    commands = run_cell(tmp_path, monkeypatch)
    assert [c.split()[:2] for c in commands] == [["pip", "install"]]


def test_the_cell_does_nothing_off_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert run_cell(tmp_path, monkeypatch, on_colab=False) == []


def test_the_cell_imports_nothing_from_the_package():
    assert "companion" not in colab.SETUP_CELL


@pytest.mark.parametrize("path", sorted((Path(colab.PROJECT_ROOT) / "notebooks")
                                        .glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_generated_cell(path):
    import json

    cell = colab.first_code_cell(json.loads(path.read_text(encoding="utf-8")))
    assert "".join(cell["source"]) == colab.SETUP_CELL, \
        f"{path.name}: run `python -m companion.colab` to rewrite its setup cell"


def test_the_generator_rewrites_a_stale_cell_and_leaves_others(tmp_path):
    import json

    source = Path(colab.PROJECT_ROOT) / "notebooks" / "00_setup_and_data.ipynb"
    notebook = json.loads(source.read_text(encoding="utf-8"))
    colab.first_code_cell(notebook)["source"] = ["print('old cell')\n"]
    stale = tmp_path / "00.ipynb"
    stale.write_text(json.dumps(notebook), encoding="utf-8")
    assert colab.write_setup_cells([stale]) == [stale]
    assert colab.write_setup_cells([stale]) == []  # already current
    rewritten = json.loads(stale.read_text(encoding="utf-8"))
    assert "".join(colab.first_code_cell(rewritten)["source"]) == colab.SETUP_CELL
    assert len(rewritten["cells"]) == len(notebook["cells"])
