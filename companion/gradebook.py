"""The gradebook: one Grade per student and exercise, as CSV and a markdown table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Grade:
    """One student's result on one exercise."""

    student: str
    notebook: str  # the course notebook's stem, e.g. 00_setup_and_data
    exercise: str  # the exercise name (the solution cell's nbgrader grade_id)
    points: float
    max_points: float
    feedback: str  # "✓", or what the instructor's check said and what went wrong


def gradebook_table(grades: list[Grade]) -> pd.DataFrame:
    """Student x exercise points, in course order, with a total column."""
    frame = pd.DataFrame([asdict(g) for g in grades])
    order = list(dict.fromkeys(frame["exercise"]))
    wide = frame.pivot(index="student", columns="exercise", values="points")[order]
    wide["total"] = wide.sum(axis=1)
    return wide


def _markdown(grades: list[Grade]) -> str:
    wide = gradebook_table(grades)
    possible = sum({(g.notebook, g.exercise): g.max_points for g in grades}.values())
    header = ["student", *wide.columns[:-1], f"total / {possible:g}"]
    lines = ["# Gradebook", "", "| " + " | ".join(header) + " |",
             "| --- |" + " ---: |" * (len(header) - 1)]
    for student, row in wide.iterrows():
        lines.append(f"| {student} | " + " | ".join(f"{v:g}" for v in row) + " |")
    lines += ["", "## Feedback", ""]
    for g in grades:
        if g.feedback != "✓":
            text = g.feedback.replace("\n", " ")
            lines.append(f"- **{g.student}**, {g.exercise} ({g.notebook}): {text}")
    return "\n".join(lines) + "\n"


def write_gradebook(grades: list[Grade], out: Path) -> Path:
    """Write out/gradebook.csv and out/gradebook.md; the markdown file's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([asdict(g) for g in grades]).to_csv(out / "gradebook.csv",
                                                     index=False)
    markdown = out / "gradebook.md"
    markdown.write_text(_markdown(grades), encoding="utf-8")
    print(f"gradebook: {markdown} and {out / 'gradebook.csv'}")
    return markdown
