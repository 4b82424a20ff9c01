"""Reading the user's data files: the one reader behind every jsonl or parquet file.

Every file a user brings or may edit (the benchmark's splits, the general-knowledge
items, the bundled general text) is read here, so each behaves alike: UTF-8 with or
without a byte-order mark (what Windows editors write), LF or CRLF line ends, blank
lines skipped, and every mistake reported as one line that names the file and the
line (a CourseError), never a bare JSONDecodeError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .config import CourseError

BOM = "\ufeff"
# C0 controls and DEL, except tab and line breaks (real documents hold newlines)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) of every non-blank line; errors name the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CourseError(f"cannot read {path}: {error.strerror}") from None
    rows = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8").lstrip(BOM)  # a BOM some editors write
        except UnicodeDecodeError:
            raise CourseError(f"{path} line {number}: not UTF-8 text; "
                              "save the file as UTF-8") from None
        if not text.strip():  # blank, or only the "\r" of a CRLF line end
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            raise CourseError(f"{path} line {number}: not valid JSON ({error.msg}); "
                              "fix or remove that line") from None
        if not isinstance(row, dict):
            raise CourseError(f"{path} line {number}: expected a JSON object per line")
        rows.append((number, row))
    return rows


def read_parquet(path: str | Path) -> list[tuple[int, dict]]:
    """(row number, record) of every row of a parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except UnicodeDecodeError:
        raise CourseError(f"{path}: holds text that is not UTF-8; "
                          "download the file again") from None
    except (pa.ArrowException, OSError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0][:100]
        raise CourseError(f"cannot read {path} as parquet ({reason}); "
                          "download the file again") from None
    return list(enumerate(records, start=1))


def read_records(path: str | Path) -> list[tuple[int, dict]]:
    """Numbered records of a .parquet or .jsonl file."""
    path = Path(path)
    return read_parquet(path) if path.suffix == ".parquet" else read_jsonl(path)


def check_text(value, where: str, column: str) -> str:
    """A value as UTF-8-clean text without control characters, or a one-line error."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise CourseError(f"{where}: {column} is not UTF-8 text; "
                              "save the file as UTF-8") from None
    if not isinstance(value, str):
        raise CourseError(f"{where}: {column} must be text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        raise CourseError(f"{where}: {column} is not UTF-8 text (a lone surrogate); "
                          "fix that row") from None
    bad = CONTROL.search(value)
    if bad:  # invisible in an editor, and a tokenizer may drop or keep it
        raise CourseError(f"{where}: {column} holds the control character "
                          f"U+{ord(bad.group()):04X}; remove it")
    return value


def read_table(path: str | Path, columns: tuple[str, ...],
               nonempty: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a user's jsonl/parquet file cut to `columns`, each checked as text.

    Raises CourseError naming the file (and line) when it is missing, unreadable,
    or a row lacks a column, holds something other than clean text, or leaves one
    of the `nonempty` columns blank.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path} is missing: check the path")
    unit = "row" if path.suffix == ".parquet" else "line"
    rows = []
    for number, record in read_records(path):
        where = f"{path} {unit} {number}"
        missing = [c for c in columns if c not in record]
        if missing:
            raise CourseError(f"{where}: missing {', '.join(missing)}; every row "
                              f"needs {', '.join(columns)}")
        row = {c: check_text(record[c], where, c) for c in columns}
        blank = [c for c in nonempty if not row[c].strip()]
        if blank:
            raise CourseError(f"{where}: {blank[0]} is empty; fill it in or remove "
                              "the row")
        rows.append(row)
    if not rows:
        raise CourseError(f"{path} has no rows; add some")
    return rows
