"""companion.data: the loaders, every one-line error, documents and MIA sets."""

import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from companion import data
from companion.config import HUB_DATASET, PROJECT_ROOT, CourseError

SEMEVAL = PROJECT_ROOT.parent / "shared" / "semeval25"  # the real data, never copied
# counted once with pandas from the four official parquet files (items, documents)
SEMEVAL_ROWS = {
    "forget_train": {"Task1": 166, "Task2": 642, "Task3": 304},
    "forget_validation": {"Task1": 48, "Task2": 138, "Task3": 68},
    "retain_train": {"Task1": 206, "Task2": 612, "Task3": 318},
    "retain_validation": {"Task1": 54, "Task2": 150, "Task3": 74},
}
SEMEVAL_DOCS = {"forget_train": 342, "forget_validation": 81, "retain_train": 364,
                "retain_validation": 89}


@pytest.fixture(scope="module")
def semeval():
    if not (SEMEVAL / "forget_train-00000-of-00001.parquet").exists():
        pytest.skip(f"the SemEval-2025 Task 4 parquet files are not in {SEMEVAL}")
    return data.load_benchmark(SEMEVAL)


def test_semeval_parquet_counts(semeval):
    assert {n: len(s) for n, s in semeval.items()} == {
        "forget_train": 1112, "forget_validation": 254, "retain_train": 1136,
        "retain_validation": 278}
    for name, split in semeval.items():
        assert {t: split["task"].count(t) for t in data.TASKS} == SEMEVAL_ROWS[name]
        assert set(split["split"]) == {name.split("_")[0]}
        assert split.column_names == list(data.COLUMNS)
        assert len(data.documents(split)) == SEMEVAL_DOCS[name]


def test_semeval_jsonl_roundtrip(semeval, tmp_path):
    data.write_jsonl_layout(semeval, tmp_path)
    assert (tmp_path / "validation" / "retain.jsonl").exists()
    again = data.load_benchmark(tmp_path)
    for name in data.SPLITS:
        assert again[name].to_list() == semeval[name].to_list()


def test_semeval_documents_and_mia(semeval):
    members, nonmembers = data.mia_sets(semeval)
    assert (len(members), len(nonmembers)) == (342, 81)
    assert members.column_names == ["id", "document"]
    first = semeval["forget_train"][0]  # '"2ebb..."sc1': a quoted official id
    assert data.is_sc(first["id"]) and members[0]["id"] == first["id"][:-3]
    assert members[0]["document"] == first["input"] + " " + first["output"]


def test_item_helpers():
    assert data.item_text("The start", "and the end.") == "The start and the end."
    assert data.is_sc('"ab-1"sc1') and not data.is_qa('"ab-1"sc1')
    assert data.is_qa("123qa4") and not data.is_sc("123qa4")
    assert data.document_id('"ab-1"qa0') == '"ab-1"' and data.document_id("7sc1") == "7"
    with pytest.raises(CourseError, match="must end in sc1 or qa0..qa4"):
        data.document_id("abc")


def test_bundled_benchmark_and_slices():
    full = data.load_benchmark("bundled")
    assert list(full) == list(data.SPLITS)
    assert all(split.column_names == list(data.COLUMNS) for split in full.values())
    small = data.load_benchmark("bundled", max_docs_per_task=2)
    for name in data.SPLITS:
        docs = data.documents(small[name])
        assert {t: docs["task"].count(t) for t in data.TASKS} == dict.fromkeys(
            data.TASKS, 2)
        kept = set(docs["id"])  # every item of a kept document is kept
        assert len(small[name]) == sum(data.document_id(i) in kept
                                       for i in full[name]["id"])
    texts = data.training_texts(small["forget_train"])
    assert len(texts) == len(small["forget_train"])
    assert set(data.documents(small["forget_train"])["document"]) <= set(texts)


def test_load_general():
    general = data.load_general()
    assert general["corpus"].column_names == ["text"]
    assert general["probe"].column_names == ["id", "input", "output"]
    assert len(general["corpus"]) >= 300 and len(general["probe"]) >= 50
    assert len(general["heldout"]) >= 50


def test_describe_bundled():
    summary = data.describe("bundled")
    assert summary["documents"]["forget_train"] == {
        "Task1": 8, "Task2": 16, "Task3": 8, "total": 32}
    assert summary["rows"]["forget_train"]["Task2"] == 16 * 6  # sc1 + qa0..qa4
    assert summary["total_rows"] == sum(r["total"] for r in summary["rows"].values())


def _rows(side, part, docs=2, task="Task1"):
    """Two-item documents (sc1 + qa0), named by side and part."""
    rows = []
    for k in range(docs):
        doc = f"{side}-{part}-{task}-{k}"
        rows += [{"id": f"{doc}sc1", "input": f"The tale of {doc}", "output": "ends.",
                  "task": task, "split": side},
                 {"id": f"{doc}qa0", "input": f"Who is {doc}?", "output": "Nobody",
                  "task": task, "split": side}]
    return rows


def _layout(folder, changes=None):
    """Write a valid official jsonl layout, with some files' rows replaced."""
    for name in data.SPLITS:
        side, part = name.split("_")
        rows = (changes or {}).get(name, _rows(side, part))
        data.write_jsonl(rows, folder / part / f"{side}.jsonl")
    return folder


def test_jsonl_layout_without_split_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "split"} | {"extra": 1}
            for r in _rows("retain", "train")]
    loaded = data.load_benchmark(_layout(tmp_path, {"retain_train": rows}))
    assert set(loaded["retain_train"]["split"]) == {"retain"}
    assert loaded["retain_train"].column_names == list(data.COLUMNS)


def test_parquet_folder_ignores_extra_columns(tmp_path):
    for name in data.SPLITS:
        rows = [r | {"note": "x"} for r in _rows(*name.split("_"))]
        pq.write_table(pa.Table.from_pylist(rows),
                       tmp_path / f"{name}-00000-of-00001.parquet")
    loaded = data.load_benchmark(str(tmp_path))
    assert loaded["forget_train"].column_names == list(data.COLUMNS)
    assert len(loaded["retain_validation"]) == 4


def test_flat_layout_sends_every_fifth_document_to_validation(tmp_path):
    for side in ("forget", "retain"):
        rows = _rows(side, "all", docs=10) + _rows(side, "all", docs=5, task="Task2")
        data.write_jsonl(rows, tmp_path / f"{side}.jsonl")
    loaded = data.load_benchmark(tmp_path)
    held = sorted(data.documents(loaded["forget_validation"])["id"])
    assert held == ["forget-all-Task1-4", "forget-all-Task1-9", "forget-all-Task2-4"]
    assert len(data.documents(loaded["retain_train"])) == 12


def test_write_jsonl_layout_refuses_to_overwrite(tmp_path):
    benchmark = data.load_benchmark(_layout(tmp_path / "a"))
    data.write_jsonl_layout(benchmark, tmp_path / "b")
    with pytest.raises(CourseError, match="already exists") as error:
        data.write_jsonl_layout(benchmark, tmp_path / "b")
    assert "\n" not in str(error.value)


def test_hub_id_offline_fails_fast_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(CourseError, match="download its four parquet files") as error:
        data.load_benchmark(HUB_DATASET)
    assert time.perf_counter() - start < 5
    assert "\n" not in str(error.value) and "log in" in str(error.value)


# ---------------------------------------------------------------- malformed inputs
def _edit(name, change):
    """A case: a valid layout whose split `name` has rows changed by `change`."""
    def build(tmp_path):
        side, part = name.split("_")
        return _layout(tmp_path, {name: change(_rows(side, part))})
    return build


def _raw(relative, content):
    """A case: a valid layout with one file's bytes replaced."""
    def build(tmp_path):
        _layout(tmp_path)
        (tmp_path / relative).write_bytes(content)
        return tmp_path
    return build


def _parquet(broken):
    """A case: four parquet files, forget_train's made by `broken`."""
    def build(tmp_path):
        for name in data.SPLITS:
            path = tmp_path / f"{name}-00000-of-00001.parquet"
            if name == "forget_train":
                broken(path)
            else:
                pq.write_table(pa.Table.from_pylist(_rows(*name.split("_"))), path)
        return tmp_path
    return build


def _binary_input(path):
    table = pa.table({"id": ["xsc1"], "input": pa.array([b"\xff\xfe"], pa.binary()),
                      "output": ["y"], "task": ["Task1"]})
    pq.write_table(table, path)


def _without(relative):
    """A case: a valid layout with one file deleted."""
    def build(tmp_path):
        (_layout(tmp_path) / relative).unlink()
        return tmp_path
    return build


def _flat_too_small(tmp_path):
    for side in ("forget", "retain"):
        data.write_jsonl(_rows(side, "all", docs=3), tmp_path / f"{side}.jsonl")
    return tmp_path


def _folder_with(name):
    def build(tmp_path):
        (tmp_path / name).write_text("hello")
        return tmp_path
    return build


def _drop(key):
    return lambda rows: [{k: v for k, v in r.items() if k != key} for r in rows]


def _set(key, value, row=0):
    return lambda rows: [r | {key: value} if i == row else r
                         for i, r in enumerate(rows)]


FORGET_DOC = "forget-train-Task1-0"
MALFORMED = {
    "missing column": (_edit("forget_train", _drop("task")),
                       r"train/forget\.jsonl line 1: missing column task"),
    "empty split": (_edit("retain_validation", lambda rows: []),
                    r"validation/retain\.jsonl has no items"),
    "unknown task": (_edit("forget_train", _set("task", "Task4")),
                     r"line 1: unknown task 'Task4'; use one of Task1, Task2, Task3"),
    "bad id suffix": (_edit("retain_train", _set("id", "doc7xx9", row=1)),
                      r"retain\.jsonl line 2: id 'doc7xx9' must end in sc1"),
    "duplicate id": (_edit("forget_train", lambda rows: rows + rows[:1]),
                     r"duplicate id 'forget-train-Task1-0sc1'"),
    "forget and retain": (_edit("retain_train", _set("id", FORGET_DOC + "qa3")),
                          rf"document '{FORGET_DOC}' is in both forget and retain"),
    "train and validation": (_edit("forget_validation", _set("id", FORGET_DOC + "qa3")),
                             r"is in both train and validation"),
    "split mismatch": (_edit("forget_train", _set("split", "retain")),
                       r"split is 'retain' in a forget file"),
    "not text": (_edit("forget_train", _set("input", None)),
                 r"line 1: input must be text, not NoneType"),
    "non-UTF-8 jsonl": (_raw("train/forget.jsonl", b'{"id": "a"}\n\xff\xfe\n'),
                        r"train/forget\.jsonl line 2: not UTF-8 text"),
    "lone surrogate": (_raw("train/retain.jsonl", b'{"id": "asc1", "input": "\\ud800", '
                            b'"output": "b", "task": "Task1"}\n'),
                       r"line 1: input is not UTF-8 text \(a lone surrogate\)"),
    "bad JSON line": (_raw("validation/forget.jsonl", b'{"id": "a"}\n\n{broken\n'),
                      r"validation/forget\.jsonl line 3: not valid JSON"),
    "not an object": (_raw("train/forget.jsonl", b"[1, 2]\n"),
                      r"line 1: expected a JSON object per line"),
    "missing jsonl file": (_without("train/retain.jsonl"),
                           r"train/retain\.jsonl is missing; the jsonl layout"),
    "bad parquet": (_parquet(lambda path: path.write_bytes(b"not parquet at all")),
                    r"cannot read .*forget_train-00000-of-00001\.parquet as parquet"),
    "non-UTF-8 parquet": (_parquet(_binary_input), r"row 1: input is not UTF-8 text"),
    "missing parquet file": (_parquet(lambda path: None),
                             r"lacks forget_train-00000-of-00001\.parquet"),
    "flat layout too small": (_flat_too_small, r"fewer than 5 documents per task"),
    "empty folder": (lambda p: p, r"is empty; put the four parquet files"),
    "no benchmark in folder": (_folder_with("notes.txt"), r"holds no benchmark"),
    "folder does not exist": (lambda p: str(p / "nope"), r"nope does not exist"),
    "a file, not a folder": (lambda p: _folder_with("a.parquet")(p) / "a.parquet",
                             r"a\.parquet is a file; pass the folder"),
    "unknown source": (lambda p: "bundeld", r"unknown data source 'bundeld'"),
    # what would only fail later (training, scoring, MIA) fails at load time, named
    "empty input": (_edit("forget_train", _set("input", "", row=1)),
                    rf"train/forget\.jsonl line 2: input of '{FORGET_DOC}qa0' is "
                    "empty"),
    "blank output": (_edit("retain_train", _set("output", " \n", row=0)),
                     r"retain\.jsonl line 1: output of '.*sc1' is empty"),
    "control character": (_edit("forget_train", _set("output", "ends\x00.")),
                          r"line 1: output holds the control character U\+0000"),
    "space in id": (_edit("forget_train", _set("id", " " + FORGET_DOC + "sc1")),
                    r"line 1: id ' forget.*' must end in sc1.*without spaces"),
    "id without a document": (_edit("retain_train", _set("id", "qa0", row=1)),
                              r"line 2: id 'qa0' must end in sc1"),
    "two sc items": (_edit("forget_train", _set("id", FORGET_DOC + "sc2", row=1)),
                     rf"document '{FORGET_DOC}' has two sentence-completion items"),
}


def test_windows_files_and_newlines_inside_texts_load(tmp_path):
    # a BOM and CRLF line ends (Windows editors), and a newline inside a document
    folder = _layout(tmp_path / "a", {"forget_train": [
        r | {"output": "ends.\nThe end."} for r in _rows("forget", "train")]})
    path = folder / "train" / "forget.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    loaded = data.load_benchmark(folder)
    assert loaded["forget_train"]["output"][0] == "ends.\nThe end."
    assert len(loaded["forget_train"]) == 4


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_gives_one_clear_line(case, tmp_path):
    build, message = MALFORMED[case]
    source = build(tmp_path)
    with pytest.raises(CourseError, match=message) as error:
        data.load_benchmark(source)
    assert "\n" not in str(error.value)
    assert error.value.__suppress_context__ or error.value.__context__ is None
