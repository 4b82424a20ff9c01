"""The benchmark: SemEval-2025 Task 4 items, loaded from any of their forms and checked.

An *item* has an `id`, an `input`, an `output`, a `task` (Task1 creative stories,
Task2 biographies with fake PII, Task3 encyclopedia documents) and a `split`
(forget or retain). Its id ends in `sc1` (sentence completion: `input` is the start
of a document, `output` its continuation) or `qa0`..`qa4` (a question and its
answer); what comes before that suffix names the document. A benchmark is a
`DatasetDict` with four splits: forget/retain x train/validation.

Sources: "bundled" (the course's own invented data), a folder (the four official
parquet files, the jsonl layout the official evaluation reads, or a flat
forget.jsonl + retain.jsonl) or a hub id. Every mistake in them is reported as one
line that names the file and says what to do.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value

from .config import BUNDLED_DIR, HUB_DATASET, CourseError
from .readers import check_text as _text
from .readers import read_records as _read
from .readers import read_table
from .runtime import hub_reachable

SPLITS = ("forget_train", "forget_validation", "retain_train", "retain_validation")
TASKS = ("Task1", "Task2", "Task3")
COLUMNS = ("id", "input", "output", "task", "split")
SUFFIX = re.compile(r"(sc|qa)\d$")  # the official scorer looks at id[:-1] only
FLAT_EVERY = 5  # flat layout: every 5th document of a task goes to validation
_HUB_HINT = ("download its four parquet files (the data/ folder of its hub page) and "
             "pass their folder, or go online and log in with `hf auth login`")


def _side(split: str) -> str:
    """forget or retain, from a split name such as forget_train."""
    return split.split("_")[0]


def _jsonl_path(folder: Path, split: str) -> Path:
    """Where the official jsonl layout keeps a split: train/forget.jsonl etc."""
    return folder / split.split("_")[1] / f"{_side(split)}.jsonl"


def _dataset(rows: list[dict], columns) -> Dataset:
    """A Dataset of string columns, also when `rows` is empty."""
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns},
                             features=Features({c: Value("string") for c in columns}))


# ---------------------------------------------------------------- items, documents
def item_text(input: str, output: str) -> str:
    """The text an item is trained on: `input + " " + output`."""
    return f"{input} {output}"


def is_sc(item_id: str) -> bool:
    """True for a sentence-completion item (id ends in sc1)."""
    return item_id[:-1].endswith("sc")


def is_qa(item_id: str) -> bool:
    """True for a question item (id ends in qa0..qa4)."""
    return item_id[:-1].endswith("qa")


def document_id(item_id: str) -> str:
    """The document an item belongs to: its id without the sc1/qaN suffix."""
    if not SUFFIX.search(item_id):
        raise CourseError(f"id {item_id!r} must end in sc1 or qa0..qa4")
    return item_id[:-3]


def documents(dataset: Dataset) -> Dataset:
    """One row per document (id, task, split, document), rebuilt from its sc item."""
    columns = zip(dataset["id"], dataset["input"], dataset["output"], dataset["task"],
                  dataset["split"])
    rows = [{"id": document_id(i), "task": t, "split": s, "document": item_text(a, b)}
            for i, a, b, t, s in columns if is_sc(i)]
    return _dataset(rows, ("id", "task", "split", "document"))


def training_texts(dataset: Dataset) -> list[str]:
    """Every item's training text; an sc item's text is its whole document."""
    return [item_text(a, b) for a, b in zip(dataset["input"], dataset["output"])]


def mia_sets(benchmark: DatasetDict,
             columns=("id", "document")) -> tuple[Dataset, Dataset]:
    """(members, nonmembers): forget train vs forget validation documents.

    columns: those of documents() to keep; the default is the official MIA files'.
    """
    members = documents(benchmark["forget_train"])
    nonmembers = documents(benchmark["forget_validation"])
    return (members.select_columns(list(columns)),
            nonmembers.select_columns(list(columns)))


# ---------------------------------------------------------------- checking
def _check_rows(path: Path | str, numbered: list[tuple[int, dict]],
                side: str) -> list[dict]:
    """The rows of one file cut to COLUMNS, each checked; `side` is forget/retain."""
    unit = "line" if str(path).endswith(".jsonl") else "row"
    rows = []
    for number, record in numbered:
        where = f"{path} {unit} {number}"
        missing = [c for c in COLUMNS[:4] if c not in record]
        if missing:
            raise CourseError(f"{where}: missing column {', '.join(missing)}; every "
                              "item needs id, input, output and task")
        row = {c: _text(record[c], where, c) for c in COLUMNS[:4]}
        row["split"] = _text(record.get("split", side), where, "split")
        if row["split"] != side:
            raise CourseError(f"{where}: split is {row['split']!r} in a {side} file; "
                              "fix the split column or move the item")
        if row["task"] not in TASKS:
            raise CourseError(f"{where}: unknown task {row['task']!r}; "
                              f"use one of {', '.join(TASKS)}")
        _check_item(row, where)
        rows.append(row)
    if not rows:
        raise CourseError(f"{path} has no items; each of the four splits needs some")
    return rows


def _check_item(row: dict, where: str) -> None:
    """What would only fail later (training, scoring, MIA) fails here, named."""
    item = row["id"]
    if not SUFFIX.search(item) or len(item) == 3 or re.search(r"\s", item):
        raise CourseError(f"{where}: id {item!r} must end in sc1 (sentence "
                          "completion) or qa0..qa4 (question), after a document name "
                          "without spaces")
    for column, why in (("input", "a prompt to continue"),
                        ("output", "a reference to score against")):
        if not row[column].strip():
            raise CourseError(f"{where}: {column} of {item!r} is empty; every item "
                              f"needs {why}: fill it in or remove the item")


def _check_benchmark(splits: dict[str, list[dict]], files: dict[str, str]) -> None:
    """Unique ids; one sc item per document; each document in one side and one part."""
    seen: dict[str, str] = {}  # id -> file
    home: dict[str, str] = {}  # document -> split
    completions: dict[str, str] = {}  # document -> its sc item (its MIA text)
    for name in SPLITS:
        for row in splits[name]:
            if row["id"] in seen:
                raise CourseError(f"duplicate id {row['id']!r} in {files[name]} "
                                  f"(also in {seen[row['id']]}); ids must be unique")
            seen[row["id"]] = files[name]
            doc = document_id(row["id"])
            if is_sc(row["id"]) and doc in completions:
                raise CourseError(f"document {doc!r} has two sentence-completion items "
                                  f"({completions[doc]!r}, {row['id']!r} in "
                                  f"{files[name]}); keep one sc item per document")
            if is_sc(row["id"]):
                completions[doc] = row["id"]
            other = home.setdefault(doc, name)
            if other != name:
                both = ("forget and retain" if _side(other) != _side(name)
                        else "train and validation")
                raise CourseError(f"document {doc!r} is in both {both} "
                                  f"({files[other]}, {files[name]}); "
                                  "a document belongs to one split")


# ---------------------------------------------------------------- loading
def load_benchmark(source: str | Path = "bundled",
                   max_docs_per_task: int | None = None) -> DatasetDict:
    """The four splits of "bundled", a folder or a hub id, checked (and sliced)."""
    if max_docs_per_task is not None and max_docs_per_task < 1:
        raise CourseError(f"max_docs_per_task must be at least 1 or None (all), "
                          f"not {max_docs_per_task}")
    splits, files = _locate(source)
    _check_benchmark(splits, files)
    if max_docs_per_task is not None:
        splits = {n: _first_documents(r, max_docs_per_task) for n, r in splits.items()}
    return DatasetDict({n: _dataset(splits[n], COLUMNS) for n in SPLITS})


def _locate(source: str | Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Rows per split, and the file each came from, for any kind of source."""
    text = str(source)
    if text == "bundled":
        if not BUNDLED_DIR.is_dir():
            raise CourseError(f"{BUNDLED_DIR} is missing; "
                              "run `python -m companion.synth`")
        return _from_folder(BUNDLED_DIR)
    if isinstance(source, Path) or Path(text).expanduser().exists():
        return _from_folder(Path(text).expanduser())
    if text.startswith((".", "/", "~", "\\")) or text.count("/") > 1 or "\\" in text:
        raise CourseError(f"folder {text} does not exist; check the path")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        return _from_hub(text)
    raise CourseError(f"unknown data source {text!r}; use 'bundled', a folder, "
                      f"or a hub id such as {HUB_DATASET}")


def _from_folder(folder: Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Rows of the parquet, official jsonl or flat jsonl layout in `folder`."""
    if folder.is_file():
        raise CourseError(f"{folder} is a file; pass the folder that holds the "
                          "benchmark's files")
    if not folder.is_dir():
        raise CourseError(f"folder {folder} does not exist; check the path")
    if not any(folder.iterdir()):
        raise CourseError(f"folder {folder} is empty; put the four parquet files "
                          "or the jsonl files of a benchmark there")
    if (folder / "data").is_dir() and not list(folder.glob("*.parquet")):
        folder = folder / "data"  # a snapshot of the hub repository
    parquet = {n: sorted(folder.glob(f"{n}*.parquet")) for n in SPLITS}
    official = {n: _jsonl_path(folder, n) for n in SPLITS}
    if any(parquet.values()):
        missing = [n for n, paths in parquet.items() if not paths]
        if missing:
            raise CourseError(f"folder {folder} lacks {missing[0]}-00000-of-00001."
                              "parquet; download all four parquet files")
        return ({n: [r for p in ps for r in _check_rows(p, _read(p), _side(n))]
                 for n, ps in parquet.items()},
                {n: str(ps[0]) for n, ps in parquet.items()})
    if any(p.exists() for p in official.values()):
        missing = [p for p in official.values() if not p.exists()]
        if missing:
            raise CourseError(f"{missing[0]} is missing; the jsonl layout needs "
                              "train/ and validation/ forget.jsonl and retain.jsonl")
        return ({n: _check_rows(p, _read(p), _side(n)) for n, p in official.items()},
                {n: str(p) for n, p in official.items()})
    if (folder / "forget.jsonl").exists() or (folder / "retain.jsonl").exists():
        return _from_flat(folder)
    raise CourseError(f"folder {folder} holds no benchmark: expected forget_train-"
                      "00000-of-00001.parquet etc., train/forget.jsonl etc., "
                      "or forget.jsonl + retain.jsonl")


def _from_flat(folder: Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Flat forget.jsonl + retain.jsonl: a task's every 5th document -> validation."""
    splits, files = {}, {}
    for side in ("forget", "retain"):
        path = folder / f"{side}.jsonl"
        if not path.exists():
            raise CourseError(f"{path} is missing; the flat layout needs forget.jsonl "
                              "and retain.jsonl")
        index: dict[str, int] = {}  # document -> its place among its task's documents
        counts = dict.fromkeys(TASKS, 0)
        for row in _check_rows(path, _read(path), side):
            doc = document_id(row["id"])
            if doc not in index:
                index[doc] = counts[row["task"]]
                counts[row["task"]] += 1
            held = index[doc] % FLAT_EVERY == FLAT_EVERY - 1
            part = "validation" if held else "train"
            splits.setdefault(f"{side}_{part}", []).append(row)
        files[f"{side}_train"] = files[f"{side}_validation"] = str(path)
        if f"{side}_validation" not in splits:
            raise CourseError(f"{path} has fewer than {FLAT_EVERY} documents per task, "
                              "so no validation split; add documents or use train/ and "
                              "validation/ folders")
    return splits, files


def _from_hub(hub_id: str) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Rows of a hub dataset; offline or refused access fails fast with one line."""
    from huggingface_hub import constants

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    what = f"hub dataset {hub_id}"
    if hub_id != HUB_DATASET:  # perhaps a mistyped folder
        what += f" (and there is no folder {hub_id})"
    if offline or constants.HF_HUB_OFFLINE:
        raise CourseError(f"cannot load {what}: the hub is switched off "
                          f"(HF_HUB_OFFLINE); {_HUB_HINT}")
    if not hub_reachable():  # a bare load_dataset would retry for ~25 s
        raise CourseError(f"cannot load {what}: the Hugging Face Hub does not "
                          f"answer; {_HUB_HINT}")
    from datasets import load_dataset

    try:
        loaded = load_dataset(hub_id)
    except Exception as error:  # gated, missing, network: each becomes one line
        reason = (str(error).splitlines() or [""])[0][:120]
        raise CourseError(f"cannot load {what} ({type(error).__name__}: {reason}); "
                          f"it may be gated: accept its terms on its hub page, "
                          f"or {_HUB_HINT}") from None
    missing = [n for n in SPLITS if n not in loaded]
    if missing:
        raise CourseError(f"{hub_id} has no split {missing[0]}; it is not a "
                          "SemEval-2025 Task 4 benchmark")
    files = {n: f"{hub_id}:{n}" for n in SPLITS}
    return ({n: _check_rows(files[n], list(enumerate(loaded[n].to_list(), start=1)),
                            _side(n)) for n in SPLITS}, files)


def _first_documents(rows: list[dict], n: int) -> list[dict]:
    """All items of the first `n` documents of each task, in their order."""
    kept: dict[str, set[str]] = {t: set() for t in TASKS}
    out = []
    for row in rows:
        doc, docs = document_id(row["id"]), kept[row["task"]]
        if doc in docs or len(docs) < n:
            docs.add(doc)
            out.append(row)
    return out


# ---------------------------------------------------------------- writing
def write_jsonl(rows: list[dict], path: Path) -> Path:
    """Write rows as UTF-8 JSON lines (keys in the rows' order), replacing the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_jsonl_layout(benchmark: DatasetDict, folder: str | Path) -> Path:
    """Write the official jsonl layout (train/forget.jsonl, ...); never overwrites."""
    folder = Path(folder)
    paths = {n: _jsonl_path(folder, n) for n in SPLITS}
    existing = [p for p in paths.values() if p.exists()]
    if existing:
        raise CourseError(f"{existing[0]} already exists; pick an empty folder "
                          "or delete the old files first")
    for name, path in paths.items():
        write_jsonl(benchmark[name].select_columns(list(COLUMNS)).to_list(), path)
    return folder


# ---------------------------------------------------------------- general text
def load_general() -> DatasetDict:
    """Bundled general text: corpus (text), probe (id, input, output), heldout."""
    parts = {"corpus": ("text",), "probe": ("id", "input", "output"),
             "heldout": ("text",)}
    loaded = {}
    for name, columns in parts.items():
        path = BUNDLED_DIR / "general" / f"{name}.jsonl"
        if not path.exists():
            raise CourseError(f"{path} is missing; run `python -m companion.synth`")
        loaded[name] = _dataset(read_table(path, columns), columns)
    return DatasetDict(loaded)


def describe(source: str | Path = "bundled") -> dict:
    """Items and documents per split and task (for `python -m companion data`)."""
    benchmark = load_benchmark(source)
    rows, docs = {}, {}
    for name, split in benchmark.items():
        found = documents(split)["task"]
        rows[name] = {t: split["task"].count(t) for t in TASKS} | {"total": len(split)}
        docs[name] = {t: found.count(t) for t in TASKS} | {"total": len(found)}
    return {"source": str(source), "rows": rows, "documents": docs,
            "total_rows": sum(r["total"] for r in rows.values()),
            "total_documents": sum(d["total"] for d in docs.values())}
