"""Grade submitted notebooks by re-running the instructor's checks on the answers.

Nothing a student's notebook shows is trusted: for each course notebook, the
grader takes the INSTRUCTOR's notebook, puts in the student's solution cells
(matched by their nbgrader `grade_id`, see `assignment`), runs it headless with
nbclient and reads whether each instructor test cell raised. The stages the
notebooks need are built once, by running the instructor's notebooks, into a cache
whose files are then made read-only; each student runs in a temporary folder over
a private copy of it, so 30 students do not train 30 baselines and nothing one
submission writes reaches the next. A notebook has `timeout` seconds; a crash, a
hang, a dead kernel, a deleted cell or an unreadable file costs that student the
exercises concerned and is written in the feedback, never stops the grader.

Layout: `submissions/<student>/**/<NN_name>.ipynb` (nbgrader's `submitted/` works).
`grade_submissions` writes `gradebook.csv` (one row per student and exercise) and
`gradebook.md` (student x exercise, total, feedback); see `gradebook`.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .assignment import exercise_cells, mark_exercises, read_notebook
from .config import RUNS_DIR, CourseError, import_extra
from .course import NOTEBOOKS_DIR, course_notebooks
from .exercises.feedback import STRONGER
from .gradebook import Grade, write_gradebook
from .student import student_version

nbformat = import_extra("nbformat")
NotebookClient = import_extra("nbclient").NotebookClient
_errors = import_extra("nbclient.exceptions")
CellTimeoutError, DeadKernelError = _errors.CellTimeoutError, _errors.DeadKernelError

# an answer that reaches into the checkers or the kernel is graded 0 and flagged
TAMPERING = re.compile(r"exercises|\bcheck_\w+\s*=|sys\.modules|builtins|get_ipython"
                       r"|_render_traceback_|ExerciseError")


@dataclass(frozen=True)
class Assignment:
    """One course notebook as the grader uses it: marked instructor version, stubs."""

    path: Path
    instructor: nbformat.NotebookNode  # with nbgrader metadata
    stubs: dict[str, str]  # exercise name -> the student version's solution source


def load_assignments(folder: Path = NOTEBOOKS_DIR) -> list[Assignment]:
    """The course notebooks in `folder` that have exercises."""
    assignments = []
    for path in course_notebooks(folder):
        marked = mark_exercises(read_notebook(path), path.name)
        exercises = exercise_cells(marked)
        if not exercises:
            continue
        student = student_version(marked, path.name)
        cells = {cell.id: cell for cell in student.cells}
        stubs = {e.name: cells[e.solution].source for e in exercises}
        assignments.append(Assignment(path, marked, stubs))
    return assignments


def _by_grade_id(notebook) -> dict[str, nbformat.NotebookNode]:
    """A submitted notebook's cells by nbgrader grade_id, else by cell id."""
    cells = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cells.setdefault(grade_id or cell.get("id"), cell)
        cells.setdefault(cell.get("id"), cell)
    return cells


def assemble(assignment: Assignment, submitted) -> tuple[nbformat.NotebookNode, dict]:
    """The instructor notebook with the student's answers in; notes per exercise."""
    graded = copy.deepcopy(assignment.instructor)
    theirs, notes = _by_grade_id(submitted), {}
    cells = {cell.id: cell for cell in graded.cells}
    for exercise in exercise_cells(graded):
        said = notes.setdefault(exercise.name, [])
        answer = theirs.get(exercise.name)
        if answer is None:
            said.append("solution cell deleted: graded as not done")
            cells[exercise.solution].source = assignment.stubs[exercise.name]
        else:
            own = cells[exercise.solution].source  # the instructor's
            if set(TAMPERING.findall(answer.source)) - set(TAMPERING.findall(own)):
                said.append("the answer reaches into the checkers: graded 0, "
                            "review by hand")
            cells[exercise.solution].source = answer.source
        check = theirs.get(f"check_{exercise.name}")
        if check is None or check.source != cells[exercise.check].source:
            said.append("check cell edited or deleted: the instructor's check was run")
    return graded, notes


def _error_text(cell) -> str | None:
    """The one-line reason a cell failed, or None when it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = re.sub(r"\x1b\[[0-9;]*m", "", output.get("evalue", "")).strip()
            if output.get("ename") == "ExerciseError":
                return value.replace(STRONGER, "")
            return f"{output.get('ename')}: {value}"
    return None


def execute(notebook, folder: Path, env: dict, timeout: int) -> str | None:
    """Run every cell, errors allowed, within `timeout` seconds; why it stopped."""
    client = NotebookClient(notebook, timeout=timeout, allow_errors=True,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    deadline = time.monotonic() + timeout
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(notebook.cells):
                left = deadline - time.monotonic()
                if left <= 0:
                    return f"timed out after {timeout} s"
                client.timeout = max(1, int(left))
                client.execute_cell(cell, index)
    except CellTimeoutError:
        return f"timed out after {timeout} s"
    except DeadKernelError:
        return "the kernel died (a crash or out of memory)"
    except Exception as error:  # noqa: BLE001 - one student never stops the grader
        return f"could not run: {type(error).__name__}: {error}"
    return None


def score(assignment: Assignment, graded, notes: dict, stopped: str | None,
          student: str) -> list[Grade]:
    """One Grade per exercise, read from the instructor's test cells only."""
    cells = {cell.id: cell for cell in graded.cells}
    grades = []
    for exercise in exercise_cells(graded):
        check, answer = cells[exercise.check], cells[exercise.solution]
        said = list(notes.get(exercise.name, []))
        failed = _error_text(check)
        if check.get("execution_count") is None:
            said.insert(0, f"not run: {stopped or 'an earlier cell stopped the run'}")
        elif failed:
            said.insert(0, failed)
        own = _error_text(answer)
        if own and "NotImplementedError" not in own:
            said.append(f"your cell raised {own}")
        passed = (check.get("execution_count") is not None and not failed
                  and not any("graded 0" in s for s in said))
        grades.append(Grade(student, assignment.path.stem, exercise.name,
                            exercise.points if passed else 0.0, exercise.points,
                            "; ".join(said) or "✓"))
    return grades


def _private_copy(cache: Path, target: Path) -> None:
    """A writable copy of the frozen cache for one student (times kept)."""
    if not cache.exists():
        return
    shutil.copytree(cache, target, dirs_exist_ok=True)  # copy2: times kept
    _thaw(target)


def _freeze(folder: Path) -> None:
    """Make every file under `folder` read-only (the cached stages)."""
    for path in folder.rglob("*"):
        if path.is_file():
            writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            path.chmod(path.stat().st_mode & ~writable)


def _thaw(folder: Path) -> None:
    """Make the files under `folder` writable again (before replacing the cache)."""
    for path in folder.rglob("*") if folder.exists() else []:
        if path.is_file():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _kernel_env(runs: Path, profile: str) -> dict:
    env = dict(os.environ, COURSE_PROFILE=profile, COURSE_RUNS_DIR=str(runs),
               HF_HUB_OFFLINE="1", MPLBACKEND="Agg", TQDM_DISABLE="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _find(folder: Path, name: str) -> Path | None:
    """The student's copy of notebook `name` anywhere under their folder."""
    found = sorted(p for p in folder.rglob(name) if ".ipynb_checkpoints" not in p.parts)
    return found[0] if found else None


def grade_student(folder: Path, *, assignments: list[Assignment], cache: Path,
                  profile: str = "smoke", timeout: int = 600,
                  keep: Path | None = None) -> list[Grade]:
    """Every exercise of one student, each notebook run in a fresh temporary folder."""
    grades, began = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"grade-{folder.name}-") as tmp:
        work = Path(tmp)
        _private_copy(cache, work / "runs")
        env = _kernel_env(work / "runs", profile)
        for assignment in assignments:
            try:
                grades += _grade_notebook(folder, assignment, work, env, timeout, keep)
            except Exception as error:  # noqa: BLE001 - the next student still runs
                grades += [Grade(folder.name, assignment.path.stem, e.name, 0.0,
                                 e.points, f"could not grade: {error!r}"[:300])
                           for e in exercise_cells(assignment.instructor)]
    print(f"graded {folder.name} in {time.perf_counter() - began:.0f} s", flush=True)
    return grades


def _grade_notebook(folder, assignment, work, env, timeout, keep) -> list[Grade]:
    student, name = folder.name, assignment.path.name
    path = _find(folder, name) if folder.is_dir() else None
    try:
        submitted = nbformat.read(path, as_version=4) if path else None
    except Exception as error:  # noqa: BLE001 - a broken file is graded, not fatal
        submitted, why = None, f"unreadable notebook ({type(error).__name__})"
    else:
        why = "not submitted"
    if submitted is None:
        return [Grade(student, assignment.path.stem, e.name, 0.0, e.points, why)
                for e in exercise_cells(assignment.instructor)]
    graded, notes = assemble(assignment, submitted)
    stopped = execute(graded, work, env, timeout)
    if keep is not None:
        (keep / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(graded, keep / student / name)
    return score(assignment, graded, notes, stopped, student)


def build_cache(assignments: list[Assignment], cache: Path, *, profile: str,
                timeout: int) -> Path:
    """Run the instructor's notebooks once into `cache`; they must pass their checks.

    The cache is rebuilt when the instructor's notebooks change (a fingerprint of
    their bytes is kept in `cache/.complete`).
    """
    fingerprint = hashlib.sha256(b"".join(a.path.read_bytes()
                                          for a in assignments)).hexdigest()
    done = cache / ".complete"
    if done.exists() and done.read_text() == fingerprint:
        return cache
    _thaw(cache)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    print(f"building the stages once, with the instructor's notebooks, in {cache}")
    env = _kernel_env(cache, profile)
    with tempfile.TemporaryDirectory(prefix="grade-instructor-") as tmp:
        for assignment in assignments:
            graded = copy.deepcopy(assignment.instructor)
            stopped = execute(graded, Path(tmp), env, timeout)
            failed = [g for g in score(assignment, graded, {}, stopped, "instructor")
                      if g.points < g.max_points]
            if failed:
                first = failed[0]
                raise CourseError(f"the instructor's {assignment.path.name} fails its "
                                  f"own check {first.exercise}: {first.feedback}")
    _freeze(cache)
    done.write_text(fingerprint)
    return cache


def grade_submissions(submissions, *, out=None, timeout: int = 600,
                      profile: str = "smoke", notebooks=NOTEBOOKS_DIR, cache=None,
                      jobs: int = 1) -> Path:
    """Grade every student folder in `submissions`, `jobs` students at a time;
    the path of gradebook.md."""
    submissions = Path(submissions)
    students = sorted(p for p in submissions.iterdir()
                      if p.is_dir() and not p.name.startswith(".")
                      and p.name != "gradebook") if submissions.is_dir() else []
    if not students:
        raise CourseError(f"no student folders in {submissions}: put each student's "
                          "notebooks in submissions/<student>/")
    out = Path(out or submissions / "gradebook")
    assignments = load_assignments(Path(notebooks))
    cache = build_cache(assignments, Path(cache or RUNS_DIR / "grading" / profile),
                        profile=profile, timeout=timeout)
    start = time.perf_counter()
    grade = partial(grade_student, assignments=assignments, cache=cache,
                    profile=profile, timeout=timeout, keep=out / "executed")
    if jobs <= 1:
        grades = [g for folder in students for g in grade(folder)]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            grades = [g for result in pool.map(grade, students) for g in result]
    print(f"graded {len(students)} students in {time.perf_counter() - start:.0f} s")
    return write_gradebook(grades, out)
