"""Exercises of notebook 00 (setup and data): document ids and items per task."""

from __future__ import annotations

from .. import data
from .feedback import Exercise, Feedback

DOC_IDS = ["bd1f2251-b4f1-0788-e340-496417a39cd4sc1",
           "bd1f2251-b4f1-0788-e340-496417a39cd4qa0",
           "4ca458f3-6b9a-60b3-3f2a-f7d67c39c9baqa4",
           "79627470sc1", "79627470qa1", "6c1e-qa-sc-doc7qa2"]
DOCUMENT_ID_HINTS = (
    "look at the end of a few ids: what do the items of one document share?",
    "the suffix is always three characters: 'sc' or 'qa' and one digit",
    "cut the last three characters off: item_id[:-3]",
)


def check_document_id(fn) -> bool:
    """`document_id(item_id)`: the item id without its sc1 / qa0..qa4 suffix."""
    feedback = Feedback("document_id", DOCUMENT_ID_HINTS)
    for item_id in DOC_IDS:
        got = feedback.call(fn, (item_id,), f"document_id({item_id!r})")
        expected = data.document_id(item_id)
        if got == item_id:
            feedback.fail(f"document_id({item_id!r}) returned the id unchanged; the "
                          "item's suffix has to go")
        if got != expected:
            feedback.fail(f"document_id({item_id!r}) returned {got!r}, "
                          f"expected {expected!r}")
    return feedback.ok(f"document_id: all {len(DOC_IDS)} ids give the right document")


def items_per_task(benchmark) -> dict[str, int]:
    """Reference of check_items_per_task: forget_train items of each task."""
    column = benchmark["forget_train"]["task"]
    return {task: column.count(task) for task in data.TASKS}


def _documents_of(benchmark, task: str) -> int:
    split = benchmark["forget_train"]
    ids = [i for i, t in zip(split["id"], split["task"]) if t == task]
    return len(set(map(data.document_id, ids)))


def check_items_per_task(answer, benchmark) -> bool:
    """`answer`: {task: number of forget_train items} of the notebook's benchmark."""
    feedback = Feedback("items_per_task", (
        "count the rows of the forget_train split of each task (Task1..Task3)",
        "the 'task' column of benchmark['forget_train'] names each row's task; "
        "count each name"))
    feedback.not_done(answer)
    if not isinstance(answer, dict):
        feedback.fail(f"expected a dict {{task: count}}, got {type(answer).__name__}")
    expected = items_per_task(benchmark)
    extra = sorted(set(answer) - set(expected))
    if extra:
        feedback.fail(f"{extra} are not tasks of the benchmark (tasks: "
                      f"{sorted(expected)})")
    for task, count in expected.items():
        if task not in answer:
            feedback.fail(f"no entry for {task} (keys: {sorted(answer)})")
        if answer[task] != count:
            why = (" — that is its number of documents; count items (rows)"
                   if answer[task] == _documents_of(benchmark, task) else "")
            feedback.fail(f"{task}: you said {answer[task]}, forget_train has "
                          f"{count} items{why}")
    return feedback.ok(f"items per task: {expected}")


EXERCISES = {
    "document_id": Exercise("00_setup_and_data", check_document_id, "function",
                            data.document_id),
    "items_per_task": Exercise("00_setup_and_data", check_items_per_task, "value",
                               items_per_task),
}
