"""Running notebooks headless: executed copies, and no noise a learner should not see."""

import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from companion.config import PROJECT_ROOT


@pytest.mark.skipif(os.name == "nt", reason="ZeroMQ has no IPC transport on Windows")
def test_a_course_run_prints_no_kernel_transport_warning(tmp_path):
    # ipykernel warns "running over TCP without encryption" for every kernel on TCP
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(notebook, tmp_path / "00_tiny.ipynb")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from companion.course import run_course
        run_course("smoke", out=Path({str(tmp_path / 'out')!r}),
                   folder=Path({str(tmp_path)!r}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "00_tiny.ipynb", 4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
