"""Exercises of notebook 06 (sequential requests): splitting, earlier requests."""

from __future__ import annotations

from datasets import Dataset

from .. import data
from .feedback import Exercise, Feedback, Question, check_choice

REQUEST_ITEMS = Dataset.from_dict({
    "id": ["d1sc1", "d1qa0", "d1qa1", "d2sc1", "d3sc1", "d3qa0", "d4sc1", "d4qa0",
           "d4qa1", "d4qa2", "d5sc1"],
    "input": [f"input {i}" for i in range(11)],
    "output": [f"output {i}" for i in range(11)],
    "task": ["Task1"] * 11, "split": ["forget"] * 11})


def _ids(request) -> list[str]:
    return list(request["id"]) if hasattr(request, "column_names") else [
        r["id"] for r in request]


def split_requests(forget_dataset, n: int) -> list:
    """Reference of check_split_requests: erasure.split_requests."""
    from ..erasure import split_requests as reference

    return reference(forget_dataset, n)


SPLIT_HINTS = (
    "a request asks to erase whole documents; share the documents out, not the "
    "items, and keep the order of the forget set",
    "group the ids by data.document_id first, then share the DOCUMENTS out in "
    "order: document i of D goes to request i * n // D",
)


def _check_one_split(feedback: Feedback, got, n: int, shown: str) -> None:
    try:
        got_ids = [_ids(r) for r in got]
    except (TypeError, KeyError):
        feedback.fail(f"{shown} returned {type(got).__name__}, expected a list of "
                      "datasets")
    if len(got_ids) != n or not all(got_ids):
        feedback.fail(f"{shown}: expected {n} non-empty requests, got sizes "
                      f"{[len(r) for r in got_ids]}")
    all_ids = list(REQUEST_ITEMS["id"])
    if sorted(i for r in got_ids for i in r) != sorted(all_ids):
        feedback.fail(f"{shown}: every item must be in exactly one request")
    home: dict[str, int] = {}
    for k, request in enumerate(got_ids):
        for item in request:
            doc = data.document_id(item)
            if home.setdefault(doc, k) != k:
                feedback.fail(f"{shown}: document {doc} is split between requests "
                              f"{home[doc] + 1} and {k + 1}; a request erases whole "
                              "documents")
    docs = [len(set(map(data.document_id, r))) for r in got_ids]
    expected = [len(set(map(data.document_id, _ids(r))))
                for r in split_requests(REQUEST_ITEMS, n)]
    if max(docs) - min(docs) > 1:
        feedback.fail(f"{shown}: documents per request {docs}; expected near-equal, "
                      f"such as {expected}")
    if [i for r in got_ids for i in r] != all_ids:
        order = [data.document_id(r[0]) for r in got_ids]
        feedback.fail(f"{shown}: the requests start with documents {order}; request 1 "
                      "must hold the first documents of the forget set, request 2 the "
                      "next ones, and so on, items in their forget-set order")


def check_split_requests(fn) -> bool:
    """`split_requests(forget_dataset, n)`: n near-equal requests of whole documents,
    in the forget set's order (request 1 holds its first documents)."""
    feedback = Feedback("split_requests", SPLIT_HINTS)
    for n in (1, 2, 3, 5):
        shown = f"split_requests(dataset with 5 documents, {n})"
        got = feedback.call(fn, (REQUEST_ITEMS, n), shown)
        _check_one_split(feedback, got, n, shown)
    return feedback.ok("requests hold whole documents in order, every item once, "
                       "near-equal sizes")


REQUEST_ORDER = Question(
    prompt="Requests arrive one after another. What happens to the documents of "
           "earlier requests while later requests are unlearned?",
    options={
        "a": "They come back: ascent on new documents undoes the earlier ascent.",
        "b": "Nothing can happen to them: the blocks changed for an earlier request "
             "are frozen for the later ones.",
        "c": "Nothing trains on them again, but each later stabilisation and ascent "
             "moves the weights they share, so they can drift back up (or fall "
             "further) and must be measured again after every request.",
        "d": "They are unlearned again with each new request, so the cost grows with "
             "the number of requests.",
    },
    key="cf7f30a7ac5f7f5c7cc45ab98ea2896debe419f182cf4db6436a204e5c4d5f95",
    explanations={
        "a": "Not as a rule: nothing aims at earlier documents again, so nothing "
             "undoes their ascent on purpose. They can still drift back up as shared "
             "weights move (the table shows by how much here), which is c.",
        "b": "The same trainable blocks move in every request; nothing is frozen "
             "between requests, which is why the earlier ones must be checked again.",
        "c": "Their regurgitation is re-measured after every request: the later steps "
             "move weights they share with the new documents and with the retain set.",
        "d": "Each request's forget set holds only its own documents; earlier ones are "
             "not in it, which is why their fate has to be measured, not assumed.",
    })


def check_request_order(answer) -> bool:
    """Multiple choice: REQUEST_ORDER.show() prints the options."""
    return check_choice(REQUEST_ORDER, answer, "request_order")


EXERCISES = {
    "split_requests": Exercise("06_sequential_requests", check_split_requests,
                               "function", split_requests),
    "request_order": Exercise("06_sequential_requests", check_request_order, "choice",
                              REQUEST_ORDER),
}
