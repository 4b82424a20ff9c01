"""The committed notebooks follow the course conventions (course_conventions.md)."""

import json
import re

import nbformat
import pytest

from companion.colab import SETUP_CELL
from companion.config import PROJECT_ROOT
from companion.student import BEGIN, END

NOTEBOOKS = PROJECT_ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_setup_and_data", "01_baseline_finetuning", "02_retain_stabilisation",
            "03_negative_finetuning", "04_evaluation", "05_model_capacity",
            "06_sequential_requests", "07_is_it_really_gone"]
LITERAL_STEPS = re.compile(r"\bsteps\s*=\s*\d")


def load(path):
    return nbformat.read(path, as_version=4)


def code_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code"]


def markdown(notebook) -> str:
    text = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    return "\n".join(text).lower()


def test_the_course_has_its_eight_notebooks():
    assert [p.stem for p in COURSE] == EXPECTED


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_committed_without_outputs_or_execution_counts(path):
    notebook = load(path)
    dirty = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run " \
                      f"`jupyter nbconvert --clear-output --inplace {path}`"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_every_cell_has_its_own_id(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    ids = [c.get("id") for c in cells]
    assert None not in ids, f"{path.name}: cell {ids.index(None)} has no id"
    assert len(set(ids)) == len(ids), f"{path.name}: two cells share an id"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_has_objectives_run_time_summary_and_the_two_set_up_cells(path):
    notebook = load(path)
    assert notebook.cells[0].cell_type == "markdown" and \
        notebook.cells[0].source.startswith("# ")
    text = markdown(notebook)
    for phrase in ("learning objectives", "expected run time", "smoke", "offline",
                   "full", "summary"):
        assert phrase in text, f"{path.name}: no {phrase!r} in its markdown"
    first, second = code_cells(notebook)[:2]
    assert first.source == SETUP_CELL, \
        f"{path.name}: run `python -m companion.colab` to rewrite its setup cell"
    assert "profile = load_profile()" in second.source and "set_seed(" in second.source


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_has_two_exercises_with_markers_and_checks(path):
    cells = code_cells(load(path))
    solutions = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    checks = [c for c in cells if "check" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2 and len(checks) >= 2, f"{path.name}: < 2 exercises"
    for cell in solutions:
        lines = cell.source.splitlines()
        begins = sum(bool(BEGIN.match(line)) for line in lines)
        ends = sum(bool(END.match(line)) for line in lines)
        assert begins == ends >= 1, \
            f"{path.name}: unbalanced markers in {cell.source!r:.80}"
    for cell in checks:
        assert re.search(r"\bcheck_\w+\(", cell.source), f"{path.name}: {cell.source!r}"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_asserts_its_lesson_without_literal_step_counts(path):
    cells = code_cells(load(path))
    assert any(re.search(r"^\s*assert\b", c.source, re.M) for c in cells), \
        f"{path.name}: no cell asserts what the notebook teaches"
    literal = [c.source for c in cells if LITERAL_STEPS.search(c.source)]
    assert not literal, \
        f"{path.name}: step counts belong in the profile: {literal[0]!r:.80}"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_nbgrader_metadata_matches_the_tags(path):
    from companion.assignment import exercise_cells, mark_exercises

    notebook = load(path)
    assert mark_exercises(notebook, path.name) == notebook, \
        f"{path.name}: run `python -m companion mark-exercises` after changing tags"
    exercises = exercise_cells(notebook)
    tagged = [c for c in code_cells(notebook) if "check" in c.metadata.get("tags", [])]
    assert len(exercises) == len(tagged) >= 2
    assert all(e.points > 0 for e in exercises)
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
                 if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids))
