"""Student notebooks: no solution left, a stub per exercise, runs stop at the first."""

import __future__
import ast
import json
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from companion.config import PROJECT_ROOT, CourseError
from companion.student import BEGIN, END, make_student_notebooks, strip_solutions

NOTEBOOKS = PROJECT_ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    make_student_notebooks(out, NOTEBOOKS)
    return out


def solution_blocks(source: str) -> list[list[str]]:
    """The lines between each BEGIN/END SOLUTION pair of an instructor cell."""
    blocks, current = [], None
    for line in source.splitlines():
        if BEGIN.match(line):
            current = []
        elif END.match(line):
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def cells_by_tag(path, tag):
    return [c for c in nbformat.read(path, as_version=4).cells
            if tag in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_no_solution_line_is_left_and_each_exercise_has_a_stub(path, student_dir):
    instructor = cells_by_tag(path, "solution")
    student = cells_by_tag(student_dir / path.name, "solution")
    assert len(instructor) == len(student) >= 2
    text = nbformat.reads(
        (student_dir / path.name).read_text(encoding="utf-8"), as_version=4)
    code = "\n".join(c.source for c in text.cells if c.cell_type == "code")
    assert "SOLUTION" not in code
    numbers = []
    for teacher, pupil in zip(instructor, student):
        kept = {line.strip() for line in pupil.source.splitlines()}
        for block in solution_blocks(teacher.source):
            leaked = [line for line in block if line.strip() and line.strip() in kept]
            assert not leaked, f"{path.name}: solution lines left in: {leaked}"
        stubs = re.findall(r'raise NotImplementedError\("Exercise (\d+): .+"\)',
                           pupil.source)
        assert len(stubs) == len(solution_blocks(teacher.source)) >= 1
        numbers += [int(n) for n in stubs]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered in order
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in text.cells if c.cell_type == "code")


def _stub_raises(source: str) -> None:
    """Define the cell's functions (annotations unevaluated); call each with Nones."""
    tree = ast.parse(source)
    top = [node for node in tree.body if isinstance(node, ast.Raise)]
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert top or functions, "a stub is neither a function nor a top-level raise"
    for node in top:  # a value exercise: the cell itself raises
        with pytest.raises(NotImplementedError, match="Exercise"):
            exec(compile(ast.Module([node], []), "<stub>", "exec"), {})
    namespace = {}
    module = ast.Module(functions, [])
    exec(compile(module, "<stub>", "exec", flags=__future__.annotations.compiler_flag),
         namespace)
    for node in functions:
        with pytest.raises(NotImplementedError, match="Exercise"):
            namespace[node.name](*[None] * len(node.args.args))


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_every_stub_raises_not_implemented(path, student_dir):
    for cell in cells_by_tag(student_dir / path.name, "solution"):
        _stub_raises(cell.source)


def test_student_notebook_00_runs_up_to_its_first_exercise_and_stops_there(student_dir):
    path = student_dir / "00_setup_and_data.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(student_dir)}})
    with pytest.raises(CellExecutionError, match="NotImplementedError|not done yet"):
        client.execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(code)
                  if any(o.get("output_type") == "error" for o in c.outputs))
    first_exercise = next(i for i, c in enumerate(code)
                          if {"solution", "check"} & set(c.metadata.get("tags", [])))
    assert failed in (first_exercise, first_exercise + 1)
    assert all(c.execution_count is not None for c in code[:failed])


# ---------------------------------------------------------------- on made-up notebooks
def write_course(folder, *sources, tags=("solution",)):
    folder.mkdir(parents=True, exist_ok=True)
    cells = [nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
             for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "00_demo.ipynb")
    return folder


FUNCTION = '''def double(x):
    """Twice x."""
    # BEGIN SOLUTION (hint: multiply by "two")
    y = 2 * x
    return y
    # END SOLUTION
'''


def test_a_function_keeps_its_def_and_gets_an_indented_stub_with_the_hint():
    stub = strip_solutions(FUNCTION, "demo", [0])
    assert stub.splitlines() == ['def double(x):', '    """Twice x."""',
                                 '    raise NotImplementedError('
                                 '"Exercise 1: multiply by \\"two\\"")']
    _stub_raises(stub)


def test_begin_without_end_is_a_clear_error(tmp_path):
    course = write_course(tmp_path / "nb", "# BEGIN SOLUTION (hint: h)\nx = 1\n")
    with pytest.raises(CourseError, match="00_demo.ipynb cell 0: BEGIN SOLUTION with"):
        make_student_notebooks(tmp_path / "out", course)
    assert not (tmp_path / "out").exists()


def test_markers_in_an_untagged_cell_are_refused(tmp_path):
    course = write_course(tmp_path / "nb", FUNCTION, tags=())
    with pytest.raises(CourseError, match="no 'solution' tag"):
        make_student_notebooks(tmp_path / "out", course)


def test_refuses_the_notebooks_folder_and_files_it_did_not_write(tmp_path):
    course = write_course(tmp_path / "nb", FUNCTION)
    with pytest.raises(CourseError, match="notebooks folder"):
        make_student_notebooks(course, course)
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "00_demo.ipynb"
    mine.write_text("my own notes", encoding="utf-8")
    with pytest.raises(CourseError, match="not a student notebook"):
        make_student_notebooks(out, course)
    assert mine.read_text(encoding="utf-8") == "my own notes"
    mine.unlink()
    make_student_notebooks(out, course)
    make_student_notebooks(out, course)  # a previous student version is replaced
    assert "NotImplementedError" in nbformat.read(mine, as_version=4).cells[0].source
    assert os.listdir(out) == ["00_demo.ipynb"]


# ---------------------------------------------------------------- the committed folder
STUDENT = PROJECT_ROOT / "student"
HINT = re.compile(r"\(hint:\s*(.*)\)")


def test_the_committed_student_folder_is_fresh(student_dir):
    built = sorted(p.name for p in student_dir.glob("*.ipynb"))
    assert built == sorted(p.name for p in STUDENT.glob("*.ipynb"))
    stale = [name for name in built if (student_dir / name).read_bytes()
             != (STUDENT / name).read_bytes()]
    assert not stale, f"student/ is stale ({stale}): run `make student` and commit it"


def _everything(notebook) -> str:
    """Every cell's source, outputs and metadata, and the notebook's metadata."""
    parts = [json.dumps(notebook.metadata, ensure_ascii=False)]
    for c in notebook.cells:
        parts += [c.source, json.dumps(c.get("outputs", []), ensure_ascii=False),
                  json.dumps(c.metadata, ensure_ascii=False)]
    return "\n".join(parts)


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_no_student_notebook_holds_solution_code_or_an_answer_key(path):
    text = _everything(nbformat.read(STUDENT / path.name, as_version=4))
    for teacher in cells_by_tag(path, "solution"):
        for block in solution_blocks(teacher.source):
            for line in (x.strip() for x in block):
                assert not line or line not in text, f"{path.name} leaks {line!r}"
    assert "BEGIN SOLUTION" not in text and not re.search(r"correct\W*[=:]", text)
    from companion.exercises import EXERCISES
    for exercise in EXERCISES.values():
        if exercise.kind == "choice":
            assert exercise.solution.key not in text


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_the_hints_a_student_sees_first_show_no_code(path):
    hints = [HINT.search(line)[1] for c in cells_by_tag(path, "solution")
             for line in c.source.splitlines() if BEGIN.match(line)]
    assert hints and all(not re.search(r"\w\(|\[|\.\w+\(", h) for h in hints), hints


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_test_cells_are_locked_and_answers_kept_as_nbgrader_does(path):
    notebook = nbformat.read(STUDENT / path.name, as_version=4)
    for c in notebook.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("locked"):
            assert c.metadata.get("editable") is False and not c.metadata["deletable"]
        if meta.get("solution"):
            assert c.metadata.get("deletable") is False and "editable" not in c.metadata


def test_nbgrader_generates_the_same_assignment_where_installed(tmp_path):
    pytest.importorskip("nbgrader")
    import subprocess
    import sys
    source = tmp_path / "source" / "ps1"
    source.mkdir(parents=True)
    for path in COURSE:
        (source / path.name).write_bytes(path.read_bytes())
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "unlearning"\n')
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    for path in COURSE:
        released = nbformat.read(tmp_path / "release" / "ps1" / path.name, as_version=4)
        ours = nbformat.read(STUDENT / path.name, as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in ours.cells]
        assert ids == [c.metadata.get("nbgrader", {}).get("grade_id")
                       for c in released.cells]
