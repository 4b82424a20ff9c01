"""Exercises of notebook 02 (retain stabilisation): training texts, why stabilise."""

from __future__ import annotations

from datasets import Dataset

from .. import data
from .feedback import Exercise, Feedback, Question, check_choice

ITEMS = Dataset.from_dict({
    "id": ["d1sc1", "d1qa0", "d2sc1"], "task": ["Task2"] * 3, "split": ["retain"] * 3,
    "input": ["Mara Olsen was born on", "Where does Mara Olsen live?", "The river Vel"],
    "output": ["3 May 1990 in Tallinn.", "Tartu", "flows north."]})


def check_training_texts(fn) -> bool:
    """`retain_training_texts(dataset)`: input + " " + output for every item."""
    feedback = Feedback("training_texts", (
        "every item becomes one text: its prompt followed by its answer",
        "join each item's input and output with one space: input + ' ' + output"))
    got = feedback.call(fn, (ITEMS,), "retain_training_texts(dataset)")
    expected = data.training_texts(ITEMS)
    if not isinstance(got, list) or len(got) != len(expected):
        feedback.fail(f"expected a list of {len(expected)} texts, got {got!r:.120}")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g == ITEMS["input"][i] + ITEMS["output"][i]:
            feedback.fail(f"item {ITEMS['id'][i]}: {g!r} has no space between the "
                          "input and the output")
        if g != e:
            feedback.fail(f"item {ITEMS['id'][i]}: expected {e!r}, got {g!r}")
    return feedback.ok("training texts: input + ' ' + output, one per item "
                       "(questions too)")


WHY_STABILISE = Question(
    prompt="Why fine-tune on the retain set BEFORE the gradient ascent?",
    options={
        "a": "It already erases part of the forget set, so the ascent needs fewer "
             "steps.",
        "b": "It anchors what must be kept: retain items sit deeper in a low-loss "
             "region, so the ascent, which moves weights they share, harms them less.",
        "c": "It trains the blocks that the ascent will freeze, so they need no care "
             "later.",
        "d": "Without it the forget loss is infinite and gradient ascent cannot start.",
    },
    key="199866a64bde75ff7f8b703cab90625776bf44d5451e9c097bc935a62c230c39",
    explanations={
        "a": "Stabilisation trains on retain texts only; the notebook shows that the "
             "forget set stays memorised. It is not unlearning.",
        "b": "The later ascent changes weights the retain items depend on too; "
             "starting from a firmly learnt retain set leaves more of it standing.",
        "c": "Stabilisation moves every parameter; which blocks the ascent may move is "
             "a separate choice (the trainable spec of notebook 03).",
        "d": "The forget loss is small and finite (the baseline memorised it); runaway "
             "losses during ascent are the Guard's job, not stabilisation's.",
    })


def check_why_stabilise(answer) -> bool:
    """Multiple choice: WHY_STABILISE.show() prints the options."""
    return check_choice(WHY_STABILISE, answer, "why_stabilise")


EXERCISES = {
    "training_texts": Exercise("02_retain_stabilisation", check_training_texts,
                               "function", data.training_texts),
    "why_stabilise": Exercise("02_retain_stabilisation", check_why_stabilise, "choice",
                              WHY_STABILISE),
}
