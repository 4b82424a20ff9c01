"""Where a notebook's exercises are: nbgrader cell metadata, derived from cell tags.

An instructor tags cells: `solution` (the learner's answer, between `# BEGIN
SOLUTION` and `# END SOLUTION`), `check` (the cell that calls
`check_<name>(...)` right after it) and `locked` (a cell the checks rely on, such as
a question's options). `mark_exercises` turns the tags into nbgrader's cell
metadata (schema 3: solution cells, autograded test cells with points, read-only
cells), so an nbgrader course can import the notebooks and the course's own grader
finds the same exercises: solution cell `grade_id` = the exercise name (the
`<name>` of its check), test cell `grade_id` = `check_<name>`.
`python -m companion mark-exercises` writes the metadata into the notebooks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .config import CourseError, import_extra

nbformat = import_extra("nbformat")

CHECK_CALL = re.compile(r"\bcheck_(\w+)\(")
SCHEMA = 3  # nbgrader's cell metadata schema version
DEFAULT_POINTS = 1


@dataclass(frozen=True)
class ExerciseCells:
    """One exercise of a notebook: its name, cell ids and points."""

    name: str  # the checker's name without check_ (the solution cell's grade_id)
    solution: str  # id of the solution cell
    check: str  # id of the autograded test cell
    points: float


def _nbgrader(cell, **fields) -> dict:
    meta = {"grade": False, "grade_id": None, "locked": False,
            "schema_version": SCHEMA, "solution": False, "task": False}
    meta.update(cell.metadata.get("nbgrader", {}))
    meta.update(fields)
    return meta


def mark_exercises(notebook, name: str = "notebook"):
    """A copy of `notebook` whose tagged cells carry nbgrader metadata (see module)."""
    marked = copy.deepcopy(notebook)
    pending = None  # the solution cell waiting for its check
    for index, cell in enumerate(marked.cells):
        tags, cell_id = set(cell.metadata.get("tags", [])), cell.get("id", index)
        if "solution" in tags:  # named after its check, if one follows
            cell.metadata["nbgrader"] = _nbgrader(cell, solution=True,
                                                  grade_id=f"solution_{cell_id}")
            pending = cell
        elif "check" in tags:
            found = CHECK_CALL.search(cell.source)
            if pending is None or not found:
                raise CourseError(f"{name} cell {index}: a check cell needs a solution "
                                  "cell before it and a check_<name>(...) call")
            points = cell.metadata.get("nbgrader", {}).get("points", DEFAULT_POINTS)
            cell.metadata["nbgrader"] = _nbgrader(
                cell, grade=True, grade_id=f"check_{found[1]}", locked=True,
                points=points)
            pending.metadata["nbgrader"]["grade_id"] = found[1]
            pending = None
        elif "locked" in tags:
            cell.metadata["nbgrader"] = _nbgrader(cell, grade_id=f"locked_{cell_id}",
                                                  locked=True)
    return marked


def exercise_cells(notebook) -> list[ExerciseCells]:
    """The exercises of a marked notebook, in order, from its nbgrader metadata."""
    solutions = {}
    exercises = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            solutions[meta["grade_id"]] = cell.id
        elif meta.get("grade") and cell.cell_type == "code":
            name = meta["grade_id"].removeprefix("check_")
            if name not in solutions:
                raise CourseError(f"test cell {meta['grade_id']} has no solution cell "
                                  f"with grade_id {name!r} before it")
            exercises.append(ExerciseCells(name, solutions[name], cell.id,
                                           float(meta.get("points", DEFAULT_POINTS))))
    return exercises


def read_notebook(path: Path):
    """A notebook as nbformat 4; a cell without an id gets one made from its place
    and source (nbformat would draw a random one, and builds would differ)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    for index, cell in enumerate(raw.get("cells", [])):
        if "id" not in cell:
            text = "".join(cell.get("source", "")).encode()
            cell["id"] = f"cell-{index:02d}-{hashlib.sha1(text).hexdigest()[:6]}"
    return nbformat.reads(json.dumps(raw), as_version=4)


def mark_notebooks(paths: list[Path]) -> list[Path]:
    """Write nbgrader metadata from the tags into each notebook; the changed ones."""
    changed = []
    for path in paths:
        notebook = read_notebook(path)
        marked = mark_exercises(notebook, Path(path).name)
        if marked != nbformat.read(path, as_version=4) or marked != notebook:
            nbformat.write(marked, path)
            changed.append(Path(path))
    return changed
