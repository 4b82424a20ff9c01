"""Grading re-runs the instructor's checks on the students' answers."""

import shutil

import nbformat
import pandas as pd
import pytest

from companion.config import PROJECT_ROOT, CourseError
from companion.grade import grade_submissions
from companion.gradebook import Grade, gradebook_table
from companion.student import make_student_notebooks

pytestmark = pytest.mark.slow  # grading runs whole notebooks: CI's slow tier

SETUP = "00_setup_and_data.ipynb"


def cell(notebook, grade_id):
    return next(c for c in notebook.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def submit(folder, name, notebook, filename):
    (folder / name).mkdir(parents=True)
    nbformat.write(notebook, folder / name / filename)


@pytest.fixture(scope="module")
def made_up_class(tmp_path_factory):
    """Notebook 00 and four students: right, one wrong, one crash, a faked tick."""
    root = tmp_path_factory.mktemp("class")
    course = root / "course"
    course.mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks" / SETUP, course / SETUP)
    make_student_notebooks(root / "student", course)
    teacher = nbformat.read(course / SETUP, as_version=4)
    answers = {g: cell(teacher, g).source for g in ("document_id", "items_per_task")}

    def student(**changes):
        notebook = nbformat.read(root / "student" / SETUP, as_version=4)
        for grade_id, source in {**answers, **changes}.items():
            cell(notebook, grade_id).source = source
        return notebook

    subs = root / "submissions"
    submit(subs, "alice", student(), SETUP)
    submit(subs, "bob", student(document_id=answers["document_id"].replace(
        "[:-3]", "[:-2]")), SETUP)
    submit(subs, "carol", student(items_per_task="items_per_task = {}\n1 / 0"), SETUP)
    untouched = nbformat.read(root / "student" / SETUP, as_version=4)
    dave = student(document_id=cell(untouched, "document_id").source,
                   check_document_id='print("✓ document_id: all 6 ids give the right '
                                     'document")')
    submit(subs, "dave", dave, SETUP)
    gradebook = grade_submissions(subs, timeout=300, notebooks=course,
                                  cache=root / "cache")
    return gradebook, pd.read_csv(gradebook.parent / "gradebook.csv")


def test_the_made_up_class_gets_the_expected_gradebook(made_up_class):
    markdown, rows = made_up_class
    points = rows.pivot(index="student", columns="exercise", values="points")
    assert points.to_dict("index") == {
        "alice": {"document_id": 1, "items_per_task": 1},
        "bob": {"document_id": 0, "items_per_task": 1},
        "carol": {"document_id": 1, "items_per_task": 0},
        "dave": {"document_id": 0, "items_per_task": 1}}
    text = markdown.read_text(encoding="utf-8")
    assert "| alice | 1 | 1 | 2 |" in text and "| dave | 0 | 1 | 1 |" in text


def test_each_failure_is_explained_in_the_feedback(made_up_class):
    _, rows = made_up_class
    said = {(r.student, r.exercise): r.feedback for r in rows.itertuples()}
    assert said["alice", "document_id"] == "✓"
    assert "returned 'bd1f2251-b4f1-0788-e340-496417a39cd4s'" in said["bob",
                                                                        "document_id"]
    assert "your cell raised ZeroDivisionError" in said["carol", "items_per_task"]
    assert "not done yet" in said["dave", "document_id"]
    assert "check cell edited" in said["dave", "document_id"]
    assert not any("stronger hint" in text for text in said.values())


# ---------------------------------------------------------------- a made-up course
SETUP_CELL = '''def check_double(fn):
    assert fn(3) == 6, f"double(3) gave {fn(3)}, expected 6"
    print("✓ double")

def check_half(fn):
    assert fn(8) == 4, f"half(8) gave {fn(8)}, expected 4"
'''
DOUBLE = 'def double(x):\n    # BEGIN SOLUTION (hint: twice)\n    return 2 * x\n' \
         '    # END SOLUTION\n'
HALF = 'def half(x):\n    # BEGIN SOLUTION (hint: a half)\n    return x / 2\n' \
       '    # END SOLUTION\n'


def tiny_course(folder):
    """A notebook with two exercises whose kernels start in a second."""
    code = nbformat.v4.new_code_cell
    cells = [nbformat.v4.new_markdown_cell("# Demo"), code(SETUP_CELL),
             code(DOUBLE, metadata={"tags": ["solution"]}),
             code("check_double(double)", metadata={"tags": ["check"]}),
             code(HALF, metadata={"tags": ["solution"]}),
             code("check_half(half)", metadata={"tags": ["check"]})]
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "00_demo.ipynb")
    return folder


def test_hangs_deletions_bad_files_and_tampering_never_stop_the_grader(tmp_path):
    course = tiny_course(tmp_path / "course")
    make_student_notebooks(tmp_path / "student", course)
    subs = tmp_path / "subs"

    def student(drop=(), **changes):
        notebook = nbformat.read(tmp_path / "student" / "00_demo.ipynb", as_version=4)
        for grade_id, source in changes.items():
            cell(notebook, grade_id).source = source
        notebook.cells = [c for c in notebook.cells if c.metadata.get(
            "nbgrader", {}).get("grade_id") not in drop]
        return notebook

    submit(subs, "hangs", student(double=DOUBLE, half="while True:\n    pass"),
           "00_demo.ipynb")
    submit(subs, "deletes", student(drop=("double",), half=HALF), "00_demo.ipynb")
    submit(subs, "cheats", student(double="import builtins\n" + DOUBLE, half=HALF),
           "00_demo.ipynb")
    (subs / "broken").mkdir()
    (subs / "broken" / "00_demo.ipynb").write_text("{not json", encoding="utf-8")
    (subs / "absent").mkdir()
    gradebook = grade_submissions(subs, timeout=20, notebooks=course,
                                  cache=tmp_path / "cache", jobs=2)
    rows = pd.read_csv(gradebook.parent / "gradebook.csv")
    got = {(r.student, r.exercise): (r.points, r.feedback) for r in rows.itertuples()}
    assert got["hangs", "double"] == (1, "✓")
    assert got["hangs", "half"][0] == 0 and "timed out after 20 s" in got["hangs",
                                                                           "half"][1]
    assert got["deletes", "double"][0] == 0 and "solution cell deleted" in got[
        "deletes", "double"][1]
    assert got["deletes", "half"] == (1, "✓")
    assert got["cheats", "double"][0] == 0 and "review by hand" in got["cheats",
                                                                        "double"][1]
    assert got["broken", "half"][0] == 0
    assert got["broken", "half"][1].startswith("unreadable notebook (")
    assert got["absent", "double"] == (0, "not submitted")


def test_no_student_folders_is_one_clear_error(tmp_path):
    (tmp_path / "subs" / "notes.txt").parent.mkdir()
    (tmp_path / "subs" / "notes.txt").write_text("not a student")
    with pytest.raises(CourseError, match="no student folders"):
        grade_submissions(tmp_path / "subs", notebooks=tiny_course(tmp_path / "c"))


def test_gradebook_table_totals_in_course_order():
    grades = [Grade("a", "00", "x", 1, 1, "✓"), Grade("a", "00", "w", 0, 2, "no"),
              Grade("b", "00", "x", 0, 1, "no"), Grade("b", "00", "w", 2, 2, "✓")]
    table = gradebook_table(grades)
    assert list(table.columns) == ["x", "w", "total"]
    assert table["total"].to_dict() == {"a": 1, "b": 2}
