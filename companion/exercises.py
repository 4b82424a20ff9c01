"""Exercise checkers: compare a learner's answer with the package's reference solution.

Every `check_<name>(answer, ...)` builds a few cases itself, runs the learner's
function (or reads the value) and the package function that is the reference,
and prints "✓ ..." when they agree. Otherwise it raises `ExerciseError` (an
AssertionError) whose message says which input failed, what was expected and
what came back, and gives a hint, so an instructor's run fails when a solution
breaks and a student notebook stops at its first unfinished exercise. A stub
(`raise NotImplementedError(...)`) is reported as "not done yet: <hint>".

`EXERCISES` lists them all: name -> Exercise(notebook, checker, kind, solution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from . import data, methods, models, train
from .config import TrainConfig


class ExerciseError(AssertionError):
    """A wrong or unfinished answer; the message is the feedback."""


# ---------------------------------------------------------------- feedback helpers
def _ok(message: str) -> bool:
    print(f"✓ {message}")
    return True


def _fail(message: str, hint: str) -> None:
    raise ExerciseError(f"{message}\n  hint: {hint}")


def _not_done(answer: Any, hint: str) -> None:
    """A value answer still left as None or ... is unfinished."""
    if answer is None or answer is Ellipsis:
        raise ExerciseError(f"not done yet: {hint}")


def _call(fn: Callable, args: tuple, shown: str, hint: str):
    """fn(*args); a stub becomes 'not done yet', any other crash names the input."""
    if not callable(fn):
        _fail(f"expected a function, got {type(fn).__name__}", hint)
    try:
        return fn(*args)
    except NotImplementedError as error:
        raise ExerciseError(f"not done yet: {str(error) or hint}") from None
    except Exception as error:  # the learner's bug, reported in one line
        _fail(f"{shown} raised {type(error).__name__}: {error}", hint)


def _close(got, expected: float, tol: float = 1e-4) -> bool:
    if isinstance(got, torch.Tensor):
        got = got.detach()
    try:
        return math.isclose(float(got), float(expected), rel_tol=tol, abs_tol=tol)
    except (TypeError, ValueError):
        return False


def _tiny_gpt2(n_layer: int = 1, vocab: int = 40, tie: bool = True, seed: int = 0):
    """A GPT-2 small enough to build in milliseconds (for the checks only)."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=32, n_embd=8, n_layer=n_layer,
                        n_head=2, bos_token_id=0, eos_token_id=0, pad_token_id=0,
                        tie_word_embeddings=tie, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    return GPT2LMHeadModel(config).eval()


def _batch(rows: list[list[int]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """A batch the way training makes it (train.collate): right padding, EOS = pad."""
    return train.collate(rows, pad_id)


# rows end in EOS (id 0) as train.encode makes them; EOS is also the pad token
ROWS = [[5, 9, 3, 7, 0], [4, 8, 0], [6, 2, 11, 0], [13, 0, 12, 14, 15, 0]]


# ---------------------------------------------------------------- multiple choice
@dataclass(frozen=True)
class Question:
    """A multiple-choice concept question; each wrong option explains itself."""

    prompt: str
    options: dict[str, str]  # letter -> option text
    correct: str
    explanations: dict[str, str] = field(default_factory=dict)  # letter -> why

    def show(self) -> None:
        """Print the question and its options (a notebook cell calls this)."""
        print(self.prompt)
        for letter, text in self.options.items():
            print(f"  {letter}) {text}")


def _check_choice(question: Question, answer, name: str) -> bool:
    _not_done(answer, f"set answer to one of {', '.join(map(repr, question.options))}")
    letter = str(answer).strip().lower().rstrip(")")
    if letter not in question.options:
        _fail(f"{name}: {answer!r} is not an option",
              f"answer with one letter: {', '.join(question.options)}")
    if letter != question.correct:
        why = question.explanations[letter]
        raise ExerciseError(f"{name}: {letter}) is not it. {why}")
    return _ok(f"{name}: {letter}) is right. {question.explanations[letter]}")


# ---------------------------------------------------------------- 00 setup and data
DOC_IDS = ["bd1f2251-b4f1-0788-e340-496417a39cd4sc1",
           "bd1f2251-b4f1-0788-e340-496417a39cd4qa0",
           "4ca458f3-6b9a-60b3-3f2a-f7d67c39c9baqa4",
           "79627470sc1", "79627470qa1", "6c1e-qa-sc-doc7qa2"]


def check_document_id(fn) -> bool:
    """`document_id(item_id)`: the item id without its sc1 / qa0..qa4 suffix."""
    hint = "the suffix is always three characters: 'sc' or 'qa' and one digit"
    for item_id in DOC_IDS:
        got = _call(fn, (item_id,), f"document_id({item_id!r})", hint)
        expected = data.document_id(item_id)
        if got != expected:
            _fail(f"document_id({item_id!r}) returned {got!r}, "
                  f"expected {expected!r}", hint)
    return _ok(f"document_id: all {len(DOC_IDS)} ids give the right document")


def items_per_task(benchmark) -> dict[str, int]:
    """Reference of check_items_per_task: forget_train items of each task."""
    column = benchmark["forget_train"]["task"]
    return {task: column.count(task) for task in data.TASKS}


def check_items_per_task(answer, benchmark) -> bool:
    """`answer`: {task: number of forget_train items} of the notebook's benchmark."""
    hint = "count the rows of benchmark['forget_train'] of each task (Task1..Task3)"
    _not_done(answer, hint)
    if not isinstance(answer, dict):
        _fail(f"expected a dict {{task: count}}, got {type(answer).__name__}", hint)
    expected = items_per_task(benchmark)
    for task, count in expected.items():
        if task not in answer:
            _fail(f"no entry for {task} (keys: {sorted(answer)})", hint)
        if answer[task] != count:
            other = len(set(map(data.document_id, [
                i for i, t in zip(benchmark["forget_train"]["id"],
                                  benchmark["forget_train"]["task"]) if t == task])))
            why = (" — that is its number of documents; count items (rows)"
                   if answer[task] == other else "")
            _fail(f"{task}: you said {answer[task]}, forget_train has {count} "
                  f"items{why}", hint)
    return _ok(f"items per task: {expected}")


# ---------------------------------------------------------------- 01 baseline
def labels_for(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Reference of check_labels: the labels train.collate makes for this batch."""
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask)]
    return train.collate(rows, pad_id=0)["labels"]


def check_labels(fn) -> bool:
    """`labels_for(input_ids, attention_mask)`: input_ids with -100 where mask is 0."""
    hint = ("copy input_ids and put -100 wherever attention_mask == 0 "
            "(input_ids.masked_fill(attention_mask == 0, -100))")
    batch = _batch(ROWS)
    ids, mask = batch["input_ids"].clone(), batch["attention_mask"].clone()
    got = _call(fn, (ids, mask), "labels_for(input_ids, attention_mask)", hint)
    if not torch.equal(ids, batch["input_ids"]):
        _fail("labels_for changed input_ids in place", "work on input_ids.clone()")
    if not isinstance(got, torch.Tensor) or got.shape != ids.shape:
        _fail(f"expected a tensor of shape {tuple(ids.shape)}, got "
              f"{getattr(got, 'shape', type(got).__name__)}", hint)
    expected = batch["labels"]
    if torch.equal(got, expected):
        return _ok("labels: padding is -100, every real token (the final EOS too) kept")
    if torch.equal(got, ids.masked_fill(ids == 0, -100)):
        _fail("you masked by token id: the pad token IS the EOS token here, so the "
              "EOS that ends every text (and the one inside row 3) became -100 and the "
              "model would never learn to stop", "find padding by attention_mask == 0")
    row = int((got != expected).any(dim=1).nonzero()[0])
    _fail(f"row {row}: input_ids {ids[row].tolist()}, mask {mask[row].tolist()}: "
          f"expected {expected[row].tolist()}, got {got[row].tolist()}", hint)


def mean_token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Reference of check_token_nll, via methods.sequence_nll on given logits."""
    nll, count = methods.sequence_nll(None, {"labels": labels}, logits.float())
    return nll.sum() / count.sum().clamp(min=1)


def check_token_nll(fn) -> bool:
    """`mean_token_nll(logits, labels)`: shift by one, mean cross-entropy, skip -100."""
    hint = ("position t predicts token t+1: compare logits[:, :-1] with labels[:, 1:]; "
            "F.cross_entropy wants the vocabulary in dim 1, and ignore_index=-100")
    model, batch = _tiny_gpt2(), _batch(ROWS)
    logits = model(input_ids=batch["input_ids"],
                   attention_mask=batch["attention_mask"]).logits  # (batch, seq, vocab)
    got = _call(fn, (logits, batch["labels"]), "mean_token_nll(logits, labels)", hint)
    expected = methods.token_nll(model, batch).item()
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        _fail(f"expected a scalar tensor, got {type(got).__name__}", hint)
    if _close(got, expected):
        if got.grad_fn is None:
            _fail("the value is right but has no gradient", "return the tensor itself, "
                  "not .item() or a detached copy: training backpropagates through it")
        return _ok(f"mean token NLL {got.item():.4f} = methods.token_nll")
    flat = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["labels"])
    if _close(got, flat.item()):
        _fail(f"got {got.item():.4f}, expected {expected:.4f}: the logits are not "
              "shifted", hint)
    _fail(f"got {float(got):.4f}, expected {expected:.4f} on a 4-sequence padded batch",
          hint + "; average over all labelled tokens, not per sequence")


def training_step(model, batch: dict, optimizer, clip_norm: float) -> float:
    """Reference of check_training_step: train.train_step on one batch; its loss."""
    config = TrainConfig(clip_norm=clip_norm)
    terms, _ = train.train_step(model, train.language_model_loss, iter([batch]),
                                optimizer, config)
    return terms["loss"]


STEP_CLIP = 0.05  # small enough that clipping changes every step of the check


def _weights_after_steps(fn, shown: str, hint: str) -> list[torch.Tensor]:
    """All weights after each of 3 steps of `fn`, from one start, batches, AdamW."""
    model = _tiny_gpt2(seed=1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    weights = []
    for rows in (ROWS[:2], ROWS[2:], ROWS[:2]):
        _call(fn, (model, _batch(rows), optimizer, STEP_CLIP), shown, hint)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return weights


def check_training_step(fn) -> bool:
    """`training_step(model, batch, optimizer, clip_norm)`: one step of the loop.

    Runs three steps of the learner's function and of `train.train_step` (the
    step of every stage) from the same weights, batches and optimiser, and
    compares the weights after each step: the loss alone cannot tell a loop
    without zero_grad (it still descends) from the right one.
    """
    hint = ("loss = token_nll(model, batch); loss.backward(); clip_grad_norm_("
            "model.parameters(), clip_norm); optimizer.step(); optimizer.zero_grad()")
    shown = "training_step(model, batch, optimizer, clip_norm)"
    got = _weights_after_steps(fn, shown, hint)
    expected = _weights_after_steps(training_step, shown, hint)
    wrong = [k for k in range(3) if not torch.allclose(got[k], expected[k], atol=1e-5)]
    if not wrong:
        return _ok("three steps move every weight exactly as train.train_step does")
    start = _tiny_gpt2(seed=1).train()
    flat = torch.cat([p.detach().flatten() for p in start.parameters()])
    if (got[-1] - flat).dot(expected[-1] - flat) < 0:
        _fail("the weights moved against the package's step: this loop ascends (the "
              "loss rises)", "minimise the loss as it is; no minus sign in training")
    if wrong[0] > 0:
        _fail(f"step 1 matches the package's step but step {wrong[0] + 1} does not: "
              "the gradients of the previous step were added to this one",
              "call optimizer.zero_grad() once per step (before backward, or after "
              "optimizer.step())")
    _fail("the first step already moves the weights differently from train.train_step",
          hint)


# ---------------------------------------------------------------- 02 stabilisation
ITEMS = Dataset.from_dict({
    "id": ["d1sc1", "d1qa0", "d2sc1"], "task": ["Task2"] * 3, "split": ["retain"] * 3,
    "input": ["Mara Olsen was born on", "Where does Mara Olsen live?", "The river Vel"],
    "output": ["3 May 1990 in Tallinn.", "Tartu", "flows north."]})


def check_training_texts(fn) -> bool:
    """`retain_training_texts(dataset)`: input + " " + output for every item."""
    hint = "join each item's input and output with one space: input + ' ' + output"
    got = _call(fn, (ITEMS,), "retain_training_texts(dataset)", hint)
    expected = data.training_texts(ITEMS)
    if not isinstance(got, list) or len(got) != len(expected):
        _fail(f"expected a list of {len(expected)} texts, got {got!r:.120}", hint)
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            _fail(f"item {ITEMS['id'][i]}: expected {e!r}, got {g!r}", hint)
    return _ok("training texts: input + ' ' + output, one per item (questions too)")


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
    correct="b",
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
    return _check_choice(WHY_STABILISE, answer, "why stabilise")


# ---------------------------------------------------------------- 03 negative FT
def gradient_ascent_loss(model, forget_batch) -> torch.Tensor:
    """Reference of check_gradient_ascent: methods.gradient_ascent's loss."""
    return methods.gradient_ascent(model, forget_batch, None, None, None)[0]


def check_gradient_ascent(fn) -> bool:
    """`gradient_ascent_loss(model, forget_batch)`: the loss to MINIMISE for ascent."""
    hint = ("the optimiser minimises, so return minus the language-model loss: "
            "-token_nll(model, forget_batch) (or -model(**forget_batch).loss)")
    model, batch = _tiny_gpt2(), _batch(ROWS)
    got = _call(fn, (model, batch), "gradient_ascent_loss(model, batch)", hint)
    expected = gradient_ascent_loss(model, batch).item()
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        _fail(f"expected a scalar tensor, got {type(got).__name__}", hint)
    if _close(got, -expected):
        _fail(f"got {got.item():.4f}, expected {expected:.4f}: positive, so minimising "
              "it is ordinary training that memorises the forget set even harder", hint)
    if not _close(got, expected):
        _fail(f"got {float(got):.4f}, expected {expected:.4f}", hint)
    if got.grad_fn is None:
        _fail("the value is right but has no gradient", "do not call .item() or detach")
    return _ok(f"gradient ascent loss {got.item():.4f} (negative: minimising it raises "
               "the forget loss)")


def _blocks(names: list[str]) -> list[int]:
    return sorted({int(m[1]) for n in names if (m := train.BLOCK.search(n))})


def last_blocks(n_layer: int, k: int) -> list[int]:
    """Reference of check_last_blocks: the blocks train's "last:k" spec lets move."""
    model = _tiny_gpt2(n_layer=n_layer)
    return _blocks(train.trainable_parameters(model, f"last:{k}"))


def check_last_blocks(fn) -> bool:
    """`last_blocks(n_layer, k)`: the indices of the last k of n_layer blocks."""
    hint = "blocks are numbered 0..n_layer-1, so the last k are n_layer-k .. n_layer-1"
    for n_layer, k in [(4, 1), (4, 2), (2, 2), (12, 3), (6, 6)]:
        got = _call(fn, (n_layer, k), f"last_blocks({n_layer}, {k})", hint)
        expected = last_blocks(n_layer, k)
        try:
            got_list = sorted(int(i) for i in got)
        except (TypeError, ValueError):
            _fail(f"last_blocks({n_layer}, {k}) returned {got!r}, not indices", hint)
        if got_list != expected:
            _fail(f"last_blocks({n_layer}, {k}) returned {got_list}, "
                  f"expected {expected}", hint)
    return _ok("last_blocks agrees with trainable_parameters(model, 'last:k')")


# ---------------------------------------------------------------- 04 evaluation
ROUGE_CASES = [
    ("Mara Olsen was born in Tallinn.", "Mara Olsen was born in Tallinn."),
    ("the cats were running home", "a cat runs home"),  # stemmed: cats~cat, running~run
    ("born on 3 May 1990 in Tallinn",  # recall, not F: extra words cost nothing
     "born 1990 in Tallinn, and then she moved to Riga where she worked as a baker"),
    ("old lantern said to mend whatever is broken", ""),
    ("a b c d", "d c b a"),
]


def rouge_l_recall(reference: str, generation: str) -> float:
    """Reference of check_regurgitation: evaluate.regurgitation_score."""
    from .evaluate import regurgitation_score

    return regurgitation_score(reference, generation)


def check_regurgitation(fn) -> bool:
    """`rouge_l_recall(reference, generation)`: stemmed ROUGE-L recall (official)."""
    from .evaluate import regurgitation_score

    hint = ("rouge_scorer.RougeScorer(['rougeL'], use_stemmer=True)"
            ".score(reference, generation)['rougeL'].recall")
    for reference, generation in ROUGE_CASES:
        shown = f"rouge_l_recall({reference!r}, {generation!r})"
        got = _call(fn, (reference, generation), shown, hint)
        expected = regurgitation_score(reference, generation)
        if not _close(got, expected):
            _fail(f"{shown} returned {got!r}, expected {expected:.4f}", hint
                  + " (recall, not fmeasure; the reference comes first)")
    return _ok(f"ROUGE-L recall agrees with evaluate.regurgitation_score on "
               f"{len(ROUGE_CASES)} pairs")


MIA_CASES = [
    ("perfectly separated (members lower)", [0.1, 0.2, 0.3], [1.0, 1.2, 1.4, 2.0]),
    ("perfectly separated (members higher)", [3.0, 3.5], [1.0, 1.1, 1.2]),
    ("identical", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ("overlapping", [0.5, 1.5, 0.9, 2.2], [1.0, 2.0, 0.7, 2.5, 3.0]),
]


def mia_score_value(member_losses, nonmember_losses) -> float:
    """Reference of check_mia_score: membership.mia_score(...)["score"]."""
    from .membership import mia_score

    return mia_score(member_losses, nonmember_losses)["score"]


def check_mia_score(fn) -> bool:
    """`mia_score(member_losses, nonmember_losses) -> float`: 1 - 2|AUC - 0.5|."""
    from .membership import mia_score

    hint = ("labels member=1 / non-member=0, score = -loss, AUC from sklearn "
            "roc_curve + auc, then 1 - 2 * abs(auc - 0.5)")
    for name, member, nonmember in MIA_CASES:
        shown = f"mia_score({member}, {nonmember})"
        got = _call(fn, (list(member), list(nonmember)), shown, hint)
        reference = mia_score(member, nonmember)
        if not _close(got, reference["score"]):
            why = (" — that is the AUC itself" if _close(got, reference["auc"]) else "")
            _fail(f"{name}: {shown} returned {got!r}, expected "
                  f"{reference['score']:.4f} (AUC {reference['auc']:.3f}){why}", hint)
    return _ok("MIA score: 0 when members and non-members separate, 1 when alike")


FORGET_QUALITY_CASES = [  # (name, model losses, oracle losses)
    ("identical", (0.4, 1.1, 2.0, 2.6), (0.4, 1.1, 2.0, 2.6)),
    ("memorised", (0.1, 0.2, 0.15, 0.3, 0.25), (2.4, 2.9, 3.1, 2.7, 3.3)),
    ("close", (2.2, 2.8, 3.0, 2.5, 3.4, 2.9), (2.4, 2.9, 3.1, 2.7, 3.3, 2.6)),
]


def forget_quality_value(model_losses, oracle_losses) -> float:
    """Reference of check_forget_quality: the KS p-value of oracle.forget_quality."""
    from .oracle import forget_quality

    return forget_quality(model_losses, oracle_losses)["forget_quality"]


def check_forget_quality(fn) -> bool:
    """`forget_quality(model_losses, oracle_losses) -> float`: the KS test's p-value."""
    from .oracle import forget_quality

    hint = ("scipy.stats.ks_2samp(model_losses, oracle_losses) returns a result "
            "with .statistic and .pvalue; forget quality is the p-value")
    for name, losses, oracle in FORGET_QUALITY_CASES:
        shown = f"forget_quality({list(losses)}, {list(oracle)})"
        got = _call(fn, (list(losses), list(oracle)), shown, hint)
        reference = forget_quality(losses, oracle)
        if not _close(got, reference["forget_quality"]):
            why = (" — that is the KS statistic D, not its p-value"
                   if _close(got, reference["ks_statistic"]) else "")
            _fail(f"{name}: {shown} returned {got!r}, expected "
                  f"{reference['forget_quality']:.4g}{why}", hint)
    return _ok("forget quality: 1 for the same losses, near 0 for a memorising model")


# ---------------------------------------------------------------- 05 capacity
def check_param_count(fn) -> bool:
    """`count_parameters(model)`: distinct parameters, tied embeddings counted once."""
    hint = ("sum p.numel() over model.parameters(): it lists a tied weight once "
            "(state_dict() lists it twice) and includes frozen parameters")
    tied, untied = _tiny_gpt2(n_layer=2), _tiny_gpt2(n_layer=2, tie=False)
    frozen = _tiny_gpt2(n_layer=3)
    frozen.transformer.h[0].requires_grad_(False)
    for name, model in [("tied", tied), ("untied", untied), ("partly frozen", frozen)]:
        got = _call(fn, (model,), f"count_parameters({name} model)", hint)
        expected = models.param_count(model)
        if got != expected:
            doubled = sum(t.numel() for t in model.state_dict().values()
                          if t.is_floating_point())
            why = (" — the tied embedding was counted twice" if got == doubled else
                   " — frozen parameters still count" if got < expected else "")
            _fail(f"{name} model: got {got}, expected {expected}{why}", hint)
    return _ok("parameter counts agree with models.param_count")


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

    `table`: a pandas DataFrame in the tidy layout of evaluate.results_table, with a
    column naming the model ("model", or "method" as results_table({model_name:
    report}) makes it), "term" (or "metric") and "value", and optionally "stage"
    (default: "sequential" if present, else each table's last stage). Several rows
    per model (e.g. seeds) are averaged. `answer`: a model name as in the table.
    """
    values = _capacity_values(table, term, stage)
    hint = f"answer with the name of the model (one of {', '.join(map(repr, values))})"
    _not_done(answer, hint)
    name = str(answer).strip()
    if name not in values:
        _fail(f"{answer!r} is not a model in the table", hint)
    best = capacity_answer(table, term, stage)
    shown = ", ".join(f"{m} {v:.3f}" for m, v in values.items())
    if values[name] < values[best]:
        _fail(f"{term} after unlearning: {shown}; {best} kept more",
              "read the value column for each model, not the model size")
    return _ok(f"{name} kept more ({shown})")


# ---------------------------------------------------------------- 06 requests
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
    """Reference of check_split_requests: pipeline.split_requests."""
    from .pipeline import split_requests as reference

    return reference(forget_dataset, n)


def check_split_requests(fn) -> bool:
    """`split_requests(forget_dataset, n)`: n near-equal requests of whole documents."""
    hint = ("group the ids by data.document_id first, then share the DOCUMENTS out: "
            "document i of D goes to request i * n // D")
    all_ids = list(REQUEST_ITEMS["id"])
    for n in (1, 2, 3, 5):
        shown = f"split_requests(dataset with 5 documents, {n})"
        got = _call(fn, (REQUEST_ITEMS, n), shown, hint)
        try:
            got_ids = [_ids(r) for r in got]
        except (TypeError, KeyError):
            _fail(f"{shown} returned {type(got).__name__}, expected a list of datasets",
                  hint)
        if len(got_ids) != n or not all(got_ids):
            _fail(f"{shown}: expected {n} non-empty requests, got sizes "
                  f"{[len(r) for r in got_ids]}", hint)
        if sorted(i for r in got_ids for i in r) != sorted(all_ids):
            _fail(f"{shown}: every item must be in exactly one request", hint)
        home = {}
        for k, request in enumerate(got_ids):
            for item in request:
                doc = data.document_id(item)
                if home.setdefault(doc, k) != k:
                    _fail(f"{shown}: document {doc} is split between requests "
                          f"{home[doc] + 1} and {k + 1}; a request erases whole "
                          "documents", hint)
        docs = [len(set(map(data.document_id, r))) for r in got_ids]
        expected = [len(set(map(data.document_id, _ids(r))))
                    for r in split_requests(REQUEST_ITEMS, n)]
        if max(docs) - min(docs) > 1:
            _fail(f"{shown}: documents per request {docs}; expected near-equal, such "
                  f"as {expected}", hint)
    return _ok("requests hold whole documents, every item once, near-equal sizes")


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
    correct="c",
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
    return _check_choice(REQUEST_ORDER, answer, "earlier requests")


# ---------------------------------------------------------------- 07 attacks
MIN_K_CASES = [
    ("ten tokens, k=0.2", [-0.1, -2.0, -0.5, -3.0, -0.2, -0.3, -1.0, -0.4, -0.6, -0.7],
     0.2),
    ("ten tokens, k=0.5", [-0.1, -2.0, -0.5, -3.0, -0.2, -0.3, -1.0, -0.4, -0.6, -0.7],
     0.5),
    ("seven tokens, k=0.2 (1.4 rounds up to 2)", [-1.0, -0.1, -5.0, -0.2, -0.3, -4.0,
                                                 -0.5], 0.2),
    ("three tokens, k=0.1 (at least one)", [-0.5, -2.5, -1.0], 0.1),
    ("k=1: the mean", [-0.5, -2.5, -1.0], 1.0),
]


def _min_k(logp, k):
    """Reference of check_min_k: attacks.min_k_score."""
    from .attacks import min_k_score

    return min_k_score(logp, k)


def check_min_k(fn) -> bool:
    """`min_k(logp, k)`: mean of the ceil(k * n) lowest token log-probs."""
    from .attacks import min_k_score

    hint = ("sort the log-probs ascending, keep the first max(1, ceil(k * n)), "
            "return their mean (a float, higher = more likely a member)")
    for name, logp, k in MIN_K_CASES:
        shown = f"min_k({logp}, {k})"
        got = _call(fn, (list(logp), k), shown, hint)
        expected = min_k_score(logp, k)
        if not _close(got, expected):
            top = sorted(logp, reverse=True)[: max(1, math.ceil(k * len(logp)))]
            why = (" — those are the most likely tokens, keep the least likely"
                   if _close(got, sum(top) / len(top)) else "")
            _fail(f"{name}: {shown} returned {got!r}, expected {expected:.4f}{why}",
                  hint)
    return _ok(f"Min-K% agrees with attacks.min_k_score on {len(MIN_K_CASES)} cases")


NGRAM_CASES = [("a a a a", 3), ("a a a a a a", 2), ("a b c a b c", 3),
               ("The cat sat. The cat sat on the mat.", 2), ("too short", 3),
               ("one two three four five", 2)]


def _repeated_ngrams(text, n):
    """Reference of check_repeated_ngrams: collapse.repeated_ngram_rate."""
    from .collapse import repeated_ngram_rate

    return repeated_ngram_rate(text, n)


def check_repeated_ngrams(fn) -> bool:
    """`repeated_ngrams(text, n)`: share of word n-grams that repeat an earlier one."""
    from .collapse import repeated_ngram_rate, words

    hint = ("split with collapse.words(text), make the n-grams tuple(w[i:i+n]), "
            "return 1 - distinct / total (0.0 when there is no n-gram)")
    for text, n in NGRAM_CASES:
        shown = f"repeated_ngrams({text!r}, {n})"
        got = _call(fn, (text, n), shown, hint)
        expected = repeated_ngram_rate(text, n)
        if not _close(got, expected):
            tokens = words(text)
            grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
            why = (" — that is the distinct share, not the repeated one"
                   if grams and _close(got, len(set(grams)) / len(grams)) else "")
            _fail(f"{shown} returned {got!r}, expected {expected:.4f}{why}", hint)
    return _ok("repeated n-gram rate agrees with collapse.repeated_ngram_rate")


# ---------------------------------------------------------------- registry
@dataclass(frozen=True)
class Exercise:
    """One exercise: its notebook, its checker and the reference solution."""

    notebook: str
    checker: Callable
    kind: str  # "function" (solution has the learner's signature), "value", "choice"
    solution: Any  # function: the reference; value: context -> answer; choice: letter


EXERCISES: dict[str, Exercise] = {
    "document_id": Exercise("00_setup_and_data", check_document_id, "function",
                            data.document_id),
    "items_per_task": Exercise("00_setup_and_data", check_items_per_task, "value",
                               items_per_task),
    "labels": Exercise("01_baseline_finetuning", check_labels, "function", labels_for),
    "token_nll": Exercise("01_baseline_finetuning", check_token_nll, "function",
                          mean_token_nll),
    "training_step": Exercise("01_baseline_finetuning", check_training_step,
                              "function", training_step),
    "training_texts": Exercise("02_retain_stabilisation", check_training_texts,
                               "function", data.training_texts),
    "why_stabilise": Exercise("02_retain_stabilisation", check_why_stabilise, "choice",
                              WHY_STABILISE.correct),
    "gradient_ascent": Exercise("03_negative_finetuning", check_gradient_ascent,
                                "function", gradient_ascent_loss),
    "last_blocks": Exercise("03_negative_finetuning", check_last_blocks, "function",
                            last_blocks),
    "regurgitation": Exercise("04_evaluation", check_regurgitation, "function",
                              rouge_l_recall),
    "mia_score": Exercise("04_evaluation", check_mia_score, "function",
                          mia_score_value),
    "forget_quality": Exercise("04_evaluation", check_forget_quality, "function",
                               forget_quality_value),
    "param_count": Exercise("05_model_capacity", check_param_count, "function",
                            models.param_count),
    "capacity_claim": Exercise("05_model_capacity", check_capacity_claim, "value",
                               capacity_answer),
    "split_requests": Exercise("06_sequential_requests", check_split_requests,
                               "function", split_requests),
    "request_order": Exercise("06_sequential_requests", check_request_order, "choice",
                              REQUEST_ORDER.correct),
    "min_k": Exercise("07_is_it_really_gone", check_min_k, "function", _min_k),
    "repeated_ngrams": Exercise("07_is_it_really_gone", check_repeated_ngrams,
                                "function", _repeated_ngrams),
}
