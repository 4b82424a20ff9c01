"""Exercise checkers: compare a learner's answer with the package's reference solution.

One module per notebook (`setup_data` 00, `baseline` 01, `stabilisation` 02,
`negative_finetuning` 03, `evaluation` 04, `capacity` 05, `requests` 06, `attacks`
07) and the shared `feedback` helpers. Every `check_<name>(answer, ...)` builds a few cases
itself, runs the learner's function (or reads the value) and the package function
that is the reference, and prints "✓ ..." when they agree. Otherwise it raises
`ExerciseError` (an AssertionError, shown by IPython as one line of feedback) that
says which input failed, what was expected and what came back, with a hint that
escalates on repeated failures. A stub (`raise NotImplementedError(...)`) or an
answer left as None is reported as "not done yet".

`EXERCISES` lists them all: name -> Exercise(notebook, checker, kind, solution);
a "choice" exercise's solution is its Question, whose key is a hash.
"""

from .attacks import check_min_k, check_repeated_ngrams
from .baseline import (check_labels, check_token_nll, check_training_step, labels_for,
                       mean_token_nll, training_step)
from .capacity import capacity_answer, check_capacity_claim, check_param_count
from .evaluation import (check_forget_quality, check_mia_score, check_regurgitation,
                         forget_quality_value, mia_score_value, rouge_l_recall)
from .feedback import (ROWS, Exercise, ExerciseError, Feedback, Question, answer_key,
                       reset_hints, tiny_batch, tiny_gpt2)
from .negative_finetuning import (check_gradient_ascent, check_last_blocks,
                                  gradient_ascent_loss, last_blocks)
from .requests import REQUEST_ORDER, check_request_order, check_split_requests
from .requests import split_requests
from .setup_data import check_document_id, check_items_per_task, items_per_task
from .stabilisation import WHY_STABILISE, check_training_texts, check_why_stabilise
from . import (attacks, baseline, capacity, evaluation, negative_finetuning,
               requests, setup_data, stabilisation)

EXERCISES: dict[str, Exercise] = {
    name: exercise
    for module in (setup_data, baseline, stabilisation, negative_finetuning,
                   evaluation, capacity, requests, attacks)
    for name, exercise in module.EXERCISES.items()
}
