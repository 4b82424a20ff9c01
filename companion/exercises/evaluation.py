"""Exercises of notebook 04 (evaluation): ROUGE-L recall, MIA score, forget quality."""

from __future__ import annotations

from rouge_score import rouge_scorer

from ..evaluate import regurgitation_score
from ..membership import mia_score
from .feedback import Exercise, Feedback, close

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
    return regurgitation_score(reference, generation)


REGURGITATION_HINTS = (
    "the official score is ROUGE-L from the rouge_score package, with stemming; "
    "which of its three numbers asks how much of the reference came back?",
    "make a RougeScorer for 'rougeL' with use_stemmer=True; score(reference, "
    "generation) and read the recall",
    "rouge_scorer.RougeScorer(['rougeL'], use_stemmer=True)"
    ".score(reference, generation)['rougeL'].recall",
)


def _why_rouge(got, reference: str, generation: str) -> str:
    """Name the usual mistake whose value `got` is, or ''."""
    stemmed = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    score = stemmed.score(reference, generation)["rougeL"]
    if close(got, score.fmeasure):
        return " — that is the F-measure; the official term is the recall"
    if close(got, score.precision):
        return (" — that is the precision: the reference comes first in "
                "score(reference, generation)")
    if close(got, plain.score(reference, generation)["rougeL"].recall):
        return " — without stemming ('cats' and 'cat' differ); turn use_stemmer on"
    return ""


def check_regurgitation(fn) -> bool:
    """`rouge_l_recall(reference, generation)`: stemmed ROUGE-L recall (official)."""
    feedback = Feedback("regurgitation", REGURGITATION_HINTS)
    for reference, generation in ROUGE_CASES:
        shown = f"rouge_l_recall({reference!r}, {generation!r})"
        got = feedback.call(fn, (reference, generation), shown)
        expected = regurgitation_score(reference, generation)
        if not close(got, expected):
            feedback.fail(f"{shown} returned {got!r}, expected {expected:.4f}"
                          + _why_rouge(got, reference, generation))
    return feedback.ok(f"ROUGE-L recall agrees with evaluate.regurgitation_score on "
                       f"{len(ROUGE_CASES)} pairs")


MIA_CASES = [
    ("perfectly separated (members lower)", [0.1, 0.2, 0.3], [1.0, 1.2, 1.4, 2.0]),
    ("perfectly separated (members higher)", [3.0, 3.5], [1.0, 1.1, 1.2]),
    ("identical", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ("overlapping", [0.5, 1.5, 0.9, 2.2], [1.0, 2.0, 0.7, 2.5, 3.0]),
]


def mia_score_value(member_losses, nonmember_losses) -> float:
    """Reference of check_mia_score: membership.mia_score(...)["score"]."""
    return mia_score(member_losses, nonmember_losses)["score"]


MIA_HINTS = (
    "an attacker guesses 'member' when the loss is low; how well it separates the "
    "two groups is an ROC AUC, and the score is 1 when it cannot separate them",
    "labels member=1 / non-member=0, score = -loss, AUC from sklearn roc_curve + "
    "auc, then 1 - 2 * abs(auc - 0.5)",
)


def _why_mia(got, reference: dict) -> str:
    """Name the usual mistake whose value `got` is, or ''."""
    auc, edge = close(got, reference["auc"]), close(got, 1 - reference["score"])
    said = {(True, False): "the AUC itself",
            (False, True): "2|AUC - 0.5|, the attacker's edge",
            (True, True): "the AUC itself, or the attacker's edge 2|AUC - 0.5|"}
    if (auc, edge) not in said:
        return ""
    return f" — that is {said[auc, edge]}; the score is 1 - 2|AUC - 0.5|"


def check_mia_score(fn) -> bool:
    """`mia_score(member_losses, nonmember_losses) -> float`: 1 - 2|AUC - 0.5|."""
    feedback = Feedback("mia_score", MIA_HINTS)
    for name, member, nonmember in MIA_CASES:
        shown = f"mia_score({member}, {nonmember})"
        got = feedback.call(fn, (list(member), list(nonmember)), shown)
        reference = mia_score(member, nonmember)
        if not close(got, reference["score"]):
            why = _why_mia(got, reference)
            feedback.fail(f"{name}: {shown} returned {got!r}, expected "
                          f"{reference['score']:.4f} (AUC {reference['auc']:.3f}){why}")
    return feedback.ok("MIA score: 0 when members and non-members separate, 1 when "
                       "alike")


FORGET_QUALITY_CASES = [  # (name, model losses, oracle losses)
    ("identical", (0.4, 1.1, 2.0, 2.6), (0.4, 1.1, 2.0, 2.6)),
    ("memorised", (0.1, 0.2, 0.15, 0.3, 0.25), (2.4, 2.9, 3.1, 2.7, 3.3)),
    ("close", (2.2, 2.8, 3.0, 2.5, 3.4, 2.9), (2.4, 2.9, 3.1, 2.7, 3.3, 2.6)),
]
FORGET_QUALITY_HINTS = (
    "forget quality asks whether the two loss samples could come from one "
    "distribution: a two-sample test, and its p-value",
    "scipy.stats.ks_2samp(model_losses, oracle_losses) returns a result with "
    ".statistic and .pvalue; forget quality is the p-value",
)


def forget_quality_value(model_losses, oracle_losses) -> float:
    """Reference of check_forget_quality: the KS p-value of oracle.forget_quality."""
    from ..oracle import forget_quality

    return forget_quality(model_losses, oracle_losses)["forget_quality"]


def check_forget_quality(fn) -> bool:
    """`forget_quality(model_losses, oracle_losses) -> float`: the KS test's p-value."""
    from ..oracle import forget_quality

    feedback = Feedback("forget_quality", FORGET_QUALITY_HINTS)
    for name, losses, oracle in FORGET_QUALITY_CASES:
        shown = f"forget_quality({list(losses)}, {list(oracle)})"
        got = feedback.call(fn, (list(losses), list(oracle)), shown)
        reference = forget_quality(losses, oracle)
        if not close(got, reference["forget_quality"]):
            why = (" — that is the KS statistic D, not its p-value"
                   if close(got, reference["ks_statistic"]) else "")
            feedback.fail(f"{name}: {shown} returned {got!r}, expected "
                          f"{reference['forget_quality']:.4g}{why}")
    return feedback.ok("forget quality: 1 for the same losses, near 0 for a "
                       "memorising model")


EXERCISES = {
    "regurgitation": Exercise("04_evaluation", check_regurgitation, "function",
                              rouge_l_recall),
    "mia_score": Exercise("04_evaluation", check_mia_score, "function",
                          mia_score_value),
    "forget_quality": Exercise("04_evaluation", check_forget_quality, "function",
                               forget_quality_value),
}
