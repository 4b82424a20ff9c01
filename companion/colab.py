"""The Colab setup cell: one text, written as the first code cell of every notebook.

It runs before the course is installed, so it imports nothing from the package;
it clones the course and installs it once per Colab runtime, and does nothing on a
re-run ("Run all" twice, "Restart session") or anywhere but Colab. Change the cell
here, then rewrite the notebooks with `python -m companion.colab`; a test checks
that every notebook's first code cell is exactly `SETUP_CELL`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import PROJECT_ROOT

REPOSITORY = "https://github.com/sequential-unlearning/course"
SETUP_CELL = f'''\
# On Colab only: fetch and install the course once per runtime (a no-op elsewhere and
# on a re-run). Keep stages between notebooks: %env COURSE_RUNS_DIR=/content/drive/...
import os, subprocess, sys
if "google.colab" in sys.modules:
    course = "/content/course"
    if not os.path.exists(f"{{course}}/pyproject.toml"):
        url = "{REPOSITORY}"
        subprocess.run(f"git clone -q --depth 1 {{url}} {{course}}",
                       shell=True, check=True)
    if not os.path.exists(f"{{course}}/.installed"):  # pip ran to its end once
        subprocess.run(f"pip install -q -e {{course}} && touch {{course}}/.installed",
                       shell=True, check=True)
    if course not in sys.path:
        sys.path.insert(0, course)'''


def first_code_cell(notebook: dict) -> dict:
    """The first code cell of a notebook read as JSON (nbformat 4)."""
    return next(c for c in notebook["cells"] if c["cell_type"] == "code")


def write_setup_cells(paths: list[Path] | None = None) -> list[Path]:
    """Make SETUP_CELL the first code cell of each notebook; returns those changed."""
    paths = paths or sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    changed = []
    for path in paths:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cell = first_code_cell(notebook)
        if "".join(cell["source"]) == SETUP_CELL:
            continue
        cell["source"] = SETUP_CELL.splitlines(keepends=True)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        changed.append(path)
    return changed


if __name__ == "__main__":
    for path in write_setup_cells():
        print(f"rewrote the setup cell of {path.name}")
