"""Exercises of notebook 05 (model capacity): parameter count, which model kept more."""

from __future__ import annotations

from .. import models
from .feedback import Exercise, ExerciseError, Feedback, tiny_gpt2

PARAM_COUNT_HINTS = (
    "a model lists its parameters for you; a weight shared by two layers is one "
    "weight",
    "sum p.numel() over model.parameters(): it lists a tied weight once (state_dict() "
    "lists it twice) and includes frozen parameters",
)


def check_param_count(fn) -> bool:
    """`count_parameters(model)`: distinct parameters, tied embeddings counted once."""
    feedback = Feedback("param_count", PARAM_COUNT_HINTS)
    tied, untied = tiny_gpt2(n_layer=2), tiny_gpt2(n_layer=2, tie=False)
    frozen = tiny_gpt2(n_layer=3)
    frozen.transformer.h[0].requires_grad_(False)
    for name, model in [("tied", tied), ("untied", untied), ("partly frozen", frozen)]:
        got = feedback.call(fn, (model,), f"count_parameters({name} model)")
        expected = models.param_count(model)
        if got != expected:
            doubled = sum(t.numel() for t in model.state_dict().values()
                          if t.is_floating_point())
            why = (" — the tied embedding was counted twice" if got == doubled else
                   " — frozen parameters still count" if got < expected else "")
            feedback.fail(f"{name} model: got {got}, expected {expected}{why}")
    return feedback.ok("parameter counts agree with models.param_count")


def capacity_answer(table, term: str = "retain_regurgitation", stage=None) -> str:
    """Reference of check_capacity_claim: the model with the higher `term`."""
    values = _capacity_values(table, term, stage)
    return max(values, key=values.get)


def _capacity_values(table, term: str, stage) -> dict[str, float]:
    """{model: value of `term`} from a results table (see check_capacity_claim)."""
    model_col = "model" if "model" in table.columns else "method"
    term_col = "term" if "term" in table.columns else "metric"
    rows = table[table[term_col] == term]
    if "stage" in rows.columns:
        if stage is None:  # the unlearned stage: sequential if present, else the last
            stages = list(dict.fromkeys(rows["stage"]))
            stage = "sequential" if "sequential" in stages else stages[-1]
        rows = rows[rows["stage"] == stage]
    if rows[model_col].nunique() < 2:
        found = sorted(rows[model_col].unique())
        raise ExerciseError(f"the table needs {term!r} for at least two models "
                            f"(found {found}): evaluate both")
    return rows.groupby(model_col, sort=False)["value"].mean().to_dict()


def check_capacity_claim(answer, table, term: str = "retain_regurgitation",
                         stage=None) -> bool:
    """Which model kept more retain regurgitation after unlearning? Checked on `table`.

    `table`: a pandas DataFrame in the tidy layout of results.results_table, with a
    column naming the model ("model", or "method" as results_table({model_name:
    report}) makes it), "term" (or "metric") and "value", and optionally "stage"
    (default: "sequential" if present, else each table's last stage). Several rows
    per model (e.g. seeds) are averaged. `answer`: a model name as in the table.
    """
    values = _capacity_values(table, term, stage)
    feedback = Feedback("capacity_claim", (
        f"answer with the name of the model (one of {', '.join(map(repr, values))})",))
    feedback.not_done(answer)
    name = str(answer).strip()
    if name not in values:
        feedback.fail(f"{answer!r} is not a model in the table")
    best = capacity_answer(table, term, stage)
    shown = ", ".join(f"{m} {v:.3f}" for m, v in values.items())
    if values[name] < values[best]:
        feedback.fail(f"{term} after unlearning: {shown}; {best} kept more",
                      "read the value column for each model, not the model size")
    return feedback.ok(f"{name} kept more ({shown})")


EXERCISES = {
    "param_count": Exercise("05_model_capacity", check_param_count, "function",
                            models.param_count),
    "capacity_claim": Exercise("05_model_capacity", check_capacity_claim, "value",
                               capacity_answer),
}
