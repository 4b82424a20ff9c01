"""Exercise checkers: each accepts its reference, rejects a stub and a usual mistake."""

import re

import pandas as pd
import pytest
from scipy.stats import ks_2samp
import torch
import torch.nn.functional as F

from rouge_score import rouge_scorer

from companion import exercises as ex
from companion.data import load_benchmark
from companion.membership import mia_score
from companion.methods import token_nll
from companion.exercises import EXERCISES, ExerciseError


@pytest.fixture(autouse=True)
def first_attempt():
    ex.reset_hints()  # each test sees the first (nudge) hint


@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark("bundled", max_docs_per_task=2)


def capacity_table(big=0.6, small=0.3):
    """Two models' results the way results_table({model: report}) lays them out."""
    rows = []
    for model, kept in (("tiny-gpt2", big), ("tiny-distilgpt2", small)):
        for stage, term, value in (("baseline", "retain_regurgitation", 0.9),
                                   ("sequential", "retain_regurgitation", kept),
                                   ("sequential", "forget_regurgitation", 0.1)):
            rows.append({"method": model, "stage": stage, "term": term, "value": value})
    return pd.DataFrame(rows)


def context(name, benchmark):
    """The extra arguments a value checker takes in its notebook."""
    return {"items_per_task": (benchmark,), "capacity_claim": (capacity_table(),)}.get(
        name, ())


def stub(*args):
    raise NotImplementedError("Exercise 1: write it")


def test_every_notebook_of_the_course_has_two_exercises():
    notebooks = [e.notebook for e in EXERCISES.values()]
    assert sorted(set(notebooks)) == [
        "00_setup_and_data", "01_baseline_finetuning", "02_retain_stabilisation",
        "03_negative_finetuning", "04_evaluation", "05_model_capacity",
        "06_sequential_requests", "07_is_it_really_gone"]
    assert all(notebooks.count(n) >= 2 for n in notebooks)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_checker_accepts_the_reference_solution(name, benchmark, capsys):
    exercise = EXERCISES[name]
    extra = context(name, benchmark)
    answer = exercise.solution
    if exercise.kind == "value":
        answer = exercise.solution(*extra)
    if exercise.kind == "choice":
        answer = next(k for k in answer.options if answer.is_right(k))
    assert exercise.checker(answer, *extra) is True
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("name", list(EXERCISES))
def test_checker_reports_a_stub_as_not_done_yet(name, benchmark):
    exercise = EXERCISES[name]
    answer = stub if exercise.kind == "function" else None
    with pytest.raises(ExerciseError, match="not done yet"):
        exercise.checker(answer, *context(name, benchmark))


def masked_by_token_id(input_ids, attention_mask):
    return input_ids.masked_fill(input_ids == 0, -100)  # pad == EOS: the classic bug


def unshifted_nll(logits, labels):
    return F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)


def detached_nll(logits, labels):
    return ex.mean_token_nll(logits, labels).detach()


def positive_loss(model, batch):
    return model(**batch).loss


def step_without_zero_grad(model, batch, optimizer, clip_norm):
    loss = token_nll(model, batch)  # still lowers the loss, step by step
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.item()


def ascending_step(model, batch, optimizer, clip_norm):
    optimizer.zero_grad()
    loss = -token_nll(model, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.item()


def step_without_clipping(model, batch, optimizer, clip_norm):
    optimizer.zero_grad()
    model(**batch).loss.backward()
    optimizer.step()
def item_nll(logits, labels):
    return ex.mean_token_nll(logits, labels).item()


def item_ascent(model, batch):
    return ex.gradient_ascent_loss(model, batch).item()


def per_sequence_nll(logits, labels):
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:],
                          ignore_index=-100, reduction="none")
    return (nll.sum(1) / (labels[:, 1:] != -100).sum(1)).mean()


def requests_reversed(dataset, n):
    return ex.split_requests(dataset, n)[::-1]


def requests_interleaved(dataset, n):
    """Whole documents, near-equal, but dealt out round-robin (1, 2, 3, 1, 2)."""
    from companion.data import document_id
    docs = list(dict.fromkeys(map(document_id, dataset["id"])))
    rows = [docs.index(document_id(i)) % n for i in dataset["id"]]
    return [dataset.select([j for j, r in enumerate(rows) if r == k]) for k in range(n)]


def rouge(kind, stem=True, swap=False):
    def score(reference, generation):
        if swap:
            reference, generation = generation, reference
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)
        return getattr(scorer.score(reference, generation)["rougeL"], kind)
    return score


def split_by_items(dataset, n):
    size = -(-len(dataset) // n)
    return [dataset.select(range(i, min(i + size, len(dataset))))
            for i in range(0, len(dataset), size)]


def rouge_l_fmeasure(reference, generation):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return scorer.score(reference, generation)["rougeL"].fmeasure


def state_dict_count(model):
    return sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())


def trainable_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


WRONG = [
    ("document_id", lambda i: i[:-2], "expected"),
    ("document_id", lambda i: i, "unchanged"),
    ("labels", masked_by_token_id, "masked by token id"),
    ("labels", lambda ids, mask: ids.clone(), "row"),
    ("token_nll", unshifted_nll, "not shifted"),
    ("token_nll", detached_nll, "no gradient"),
    ("training_step", step_without_zero_grad, "zero_grad"),
    ("training_step", ascending_step, "ascends"),
    ("training_step", step_without_clipping, "first step"),
    ("token_nll", item_nll, "plain number, so it has no gradient"),
    ("token_nll", per_sequence_nll, "per-sequence means"),
    ("training_texts", lambda d: [a + b for a, b in zip(d["input"], d["output"])],
     "no space"),
    ("gradient_ascent", positive_loss, "positive"),
    ("gradient_ascent", item_ascent, "plain number, so it has no gradient"),
    ("last_blocks", lambda n, k: list(range(k)), r"FIRST 1 blocks; expected \[3\]"),
    ("last_blocks", lambda n, k: list(range(n - k - 1, n - 1)), "expected"),
    ("regurgitation", rouge_l_fmeasure, "F-measure"),
    ("regurgitation", rouge("recall", swap=True), "that is the precision"),
    ("regurgitation", rouge("recall", stem=False), "without stemming"),
    ("mia_score", lambda m, n: mia_score(m, n)["auc"], "AUC itself"),
    ("forget_quality", lambda m, o: ks_2samp(m, o).statistic, "KS statistic D"),
    ("mia_score", lambda m, n: 1 - mia_score(m, n)["score"], "attacker's edge"),
    ("param_count", state_dict_count, "counted twice"),
    ("param_count", trainable_count, "frozen"),
    ("split_requests", split_by_items, "split between requests"),
    ("split_requests", requests_reversed, "request 1 must hold the first documents"),
    ("split_requests", requests_interleaved, "request 1 must hold the first"),
]


@pytest.mark.parametrize("name,answer,message", WRONG)
def test_checker_rejects_a_usual_mistake_with_specific_feedback(name, answer, message):
    with pytest.raises(ExerciseError, match=message):
        EXERCISES[name].checker(answer)


def test_the_step_checker_accepts_the_other_order_and_the_model_s_own_loss():
    def zero_grad_after(model, batch, optimizer, clip_norm):
        loss = model(**batch).loss  # the library's loss equals token_nll
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        optimizer.zero_grad()
    assert ex.check_training_step(zero_grad_after) is True


def test_a_crash_in_the_answer_names_the_input():
    with pytest.raises(ExerciseError, match=r"document_id\('bd1f.*raised KeyError"):
        ex.check_document_id(lambda i: {}[i])


def test_items_per_task_counts_items_not_documents(benchmark):
    documents = {t: 2 for t in ("Task1", "Task2", "Task3")}  # two documents per task
    with pytest.raises(ExerciseError, match="number of documents"):
        ex.check_items_per_task(documents, benchmark)


def test_capacity_claim_follows_the_measured_table_not_model_size():
    assert ex.check_capacity_claim("tiny-gpt2", capacity_table()) is True
    with pytest.raises(ExerciseError, match="tiny-gpt2 kept more"):
        ex.check_capacity_claim("tiny-distilgpt2", capacity_table())
    flipped = capacity_table(big=0.2, small=0.5)  # the measurement decides
    assert ex.check_capacity_claim("tiny-distilgpt2", flipped) is True
    with pytest.raises(ExerciseError, match="not a model in the table"):
        ex.check_capacity_claim("gpt-4", flipped)


def test_capacity_claim_reads_a_model_metric_value_table():
    table = pd.DataFrame({"model": ["a", "b"], "metric": ["retain_regurgitation"] * 2,
                          "value": [0.2, 0.4]})
    assert ex.check_capacity_claim("b", table) is True


@pytest.mark.parametrize("question,checker", [
    (ex.WHY_STABILISE, ex.check_why_stabilise),
    (ex.REQUEST_ORDER, ex.check_request_order)])
def test_each_wrong_option_gets_its_own_explanation(question, checker, capsys):
    question.show()
    shown = capsys.readouterr().out
    assert all(f"{k}) {text}" in shown for k, text in question.options.items())
    for letter in question.options:
        if question.is_right(letter):
            assert checker(letter.upper() + ")")
        else:
            with pytest.raises(ExerciseError, match=question.explanations[letter][:30]):
                checker(letter)
    with pytest.raises(ExerciseError, match="not an option"):
        checker("z")


def test_reference_labels_match_the_collate_of_training():
    batch = ex.tiny_batch(ex.ROWS)
    labels = ex.labels_for(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(labels, batch["labels"])
    assert (labels == 0).sum() == len(ex.ROWS) + 1  # every EOS kept, padding is -100


def test_min_k_rejects_the_most_likely_tokens():
    import math

    def top_k(logp, k):
        kept = sorted(logp, reverse=True)[: max(1, math.ceil(k * len(logp)))]
        return sum(kept) / len(kept)

    with pytest.raises(ExerciseError, match="most likely"):
        ex.check_min_k(top_k)


def test_repeated_ngrams_rejects_the_distinct_share():
    from companion.collapse import words

    def distinct_share(text, n):
        w = words(text)
        grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    with pytest.raises(ExerciseError, match="distinct share"):
        ex.check_repeated_ngrams(distinct_share)
def test_hints_escalate_from_a_nudge_to_code_on_repeated_failures():
    messages = []
    for _ in range(4):
        with pytest.raises(ExerciseError) as error:
            ex.check_gradient_ascent(positive_loss)
        messages.append(str(error.value))
    first_hint = messages[0].split("hint:")[1]
    assert "token_nll" not in first_hint and not re.search(r"\w\(", first_hint)
    assert "stronger hint" in messages[0] and "stronger hint" not in messages[2]
    assert "-token_nll(model, forget_batch)" in messages[2] == messages[3]
    ex.check_gradient_ascent(ex.gradient_ascent_loss)  # a success starts again
    with pytest.raises(ExerciseError, match="minimises; what"):
        ex.check_gradient_ascent(positive_loss)


@pytest.mark.parametrize("name,answer,message", WRONG)
def test_the_first_hint_shows_no_code(name, answer, message):
    with pytest.raises(ExerciseError) as error:
        EXERCISES[name].checker(answer)
    hint = str(error.value).split("hint:")[1]
    assert not re.search(r"\w\(|\[", hint), hint  # no call, no indexing


def test_a_failed_check_renders_as_one_clean_message():
    with pytest.raises(ExerciseError) as error:
        ex.check_labels(masked_by_token_id)
    shown = error.value._render_traceback_()
    assert shown == [f"✗ {error.value}"] and "Traceback" not in "".join(shown)
    assert shown[0].startswith("✗ labels: you masked by token id")


@pytest.mark.parametrize("question", [ex.WHY_STABILISE, ex.REQUEST_ORDER])
def test_a_question_shows_no_answer_key(question):
    shown = repr(question)
    right = next(k for k in question.options if question.is_right(k))
    assert "correct" not in shown and question.key not in shown
    assert not any(text in shown for text in question.explanations.values())
    assert question.key != right and len(question.key) == 64
    assert sum(map(question.is_right, question.options)) == 1
