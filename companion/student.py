"""Student notebooks: the course notebooks with every solution replaced by a stub.

In a cell tagged "solution", the lines from `# BEGIN SOLUTION` to `# END SOLUTION`
(markers included) become one line at the same indentation,

    raise NotImplementedError("Exercise <n>: <hint>")

where the hint comes from the marker, `# BEGIN SOLUTION (hint: ...)`; the hint is
a nudge, never code. A function keeps its `def` line and docstring, so its check
cell reports "not done yet". Outputs are cleared. Cells keep their nbgrader metadata
(`assignment.mark_exercises`), and read-only and test cells are made non-editable
and solution cells non-deletable, as nbgrader's `generate_assignment` does, so the
same files serve a course with nbgrader and one without it. nbgrader itself would
write `raise NotImplementedError()` without the hint, which is why the stubs are made
here. `python -m companion student` (or `make student`) writes them to `student/`,
the folder learners open; the instructor's notebooks are never touched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .assignment import mark_exercises, read_notebook
from .config import PROJECT_ROOT, CourseError, import_extra
from .course import course_notebooks

nbformat = import_extra("nbformat")

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
STUDENT_DIR = PROJECT_ROOT / "student"  # committed: the learners' and Colab's copy
BEGIN = re.compile(  # "# BEGIN SOLUTION" or "# BEGIN SOLUTION (hint: ...)"
    r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s*\(hint:\s*(?P<hint>.*)\))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
MARK = "student_version"  # notebook metadata key that marks a file this module wrote
DEFAULT_HINT = "replace this line with your solution"


def strip_solutions(source: str, where: str, counter: list[int]) -> str:
    """The source with each marked solution block replaced by a numbered stub."""
    out: list[str] = []
    inside: re.Match | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin and inside:
            raise CourseError(f"{where} line {number}: a second BEGIN SOLUTION before "
                              "END SOLUTION; close the first block")
        if end and not inside:
            raise CourseError(f"{where} line {number}: END SOLUTION without a "
                              "BEGIN SOLUTION above it")
        if begin:
            inside = begin
        elif end:
            counter[0] += 1
            hint = (inside["hint"] or DEFAULT_HINT).strip()
            message = json.dumps(f"Exercise {counter[0]}: {hint}", ensure_ascii=False)
            out.append(f"{inside['indent']}raise NotImplementedError({message})")
            inside = None
        elif not inside:
            out.append(line)
    if inside:
        raise CourseError(f"{where}: BEGIN SOLUTION without END SOLUTION; add the "
                          "'# END SOLUTION' line after the solution")
    return "\n".join(out)


def _lock(cell) -> None:
    """Cell flags JupyterLab obeys, set the way nbgrader's LockCells sets them."""
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("locked") or meta.get("grade") and not meta.get("solution"):
        cell.metadata.update(editable=False, deletable=False)
    elif meta.get("solution"):
        cell.metadata["deletable"] = False


def student_version(notebook, name: str = "notebook"):
    """A copy of `notebook` with solutions stubbed, outputs cleared, cells locked."""
    student = mark_exercises(notebook, name)
    counter = [0]
    for index, cell in enumerate(student.cells):
        _lock(cell)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        marked = any(BEGIN.match(line) or END.match(line)
                     for line in cell.source.splitlines())
        if not marked:
            continue
        where = f"{name} cell {index}"
        if "solution" not in cell.metadata.get("tags", []):
            raise CourseError(f"{where} has SOLUTION markers but no 'solution' tag; "
                              "tag the cell so its solution is stubbed")
        cell.source = strip_solutions(cell.source, where, counter)
    student.metadata.setdefault("companion", {})[MARK] = True
    return student


def _is_student_version(path: Path) -> bool:
    """True when `path` is a notebook that this module wrote (safe to replace)."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:  # not a notebook at all: the user's file
        return False
    return bool(notebook.metadata.get("companion", {}).get(MARK))


def make_student_notebooks(out: str | Path = STUDENT_DIR,
                           folder: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write a student version of every course notebook in `folder` to `out`."""
    out, folder = Path(out).resolve(), Path(folder).resolve()
    if out == folder:
        raise CourseError(f"--out {out} is the course's notebooks folder: the student "
                          "versions would replace the solutions; choose another folder")
    notebooks = course_notebooks(folder)
    students = {}
    for path in notebooks:  # build every version before writing any
        notebook = read_notebook(path)
        students[path.name] = student_version(notebook, path.name)
        target = out / path.name
        if target.exists() and not _is_student_version(target):
            raise CourseError(f"{target} exists and is not a student notebook made by "
                              "the course: move it away or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notebook in students.items():
        nbformat.write(notebook, out / name)
        written.append(out / name)
    print(f"wrote {len(written)} student notebooks to {out}")
    return written
