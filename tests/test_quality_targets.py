"""bench/quality.py's targets: met by a model like the oracle, missed by broken variants."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import quality  # noqa: E402

# final score = mean(task aggregate, MIA score, utility): a model that forgot
# nothing has task aggregate ~0 and MIA score 0 (AUC 1), so about utility / 3
BASELINE = dict(mia_auc=1.0, forget_quality=1e-6, forget_regurgitation=0.95,
                retain_regurgitation=0.95, utility=0.70, final_score=0.23,
                mia_auc_gap=0.45, ks_statistic=1.0, **{"mia/auc_lowest_task": 0.98})
ORACLE = dict(mia_auc=0.55, forget_quality=1.0, forget_regurgitation=0.35,
              **{"mia/auc_lowest_task": 0.52},
              retain_regurgitation=1.0, utility=0.72, final_score=0.60,
              mia_auc_gap=0.0, ks_statistic=0.0)
FLOOR = 0.2  # KS statistic between two oracles


def summary(sequential: dict, baseline=BASELINE) -> dict:
    terms = lambda d: {t: {"mean": v, "std": 0.0, "n": 3} for t, v in d.items()}  # noqa
    stages = {"baseline": baseline, "oracle": ORACLE, "sequential": sequential,
              "gradient_ascent": dict(BASELINE, final_score=0.30),
              "npo": dict(BASELINE, final_score=0.35)}
    return {"tiny-gpt2": {s: terms(d) for s, d in stages.items()}}


def verdicts(found) -> dict:
    return {t["target"]: t["met"] for t in found}


def test_a_model_as_close_as_the_oracle_meets_every_target():
    close = dict(ORACLE, mia_auc_gap=0.01, ks_statistic=0.1, final_score=0.5)
    found = verdicts(quality.targets(summary(close), {"tiny-gpt2": FLOOR}))
    assert found and all(found.values()), found


def test_no_op_unlearning_misses_the_oracle_targets():
    found = verdicts(quality.targets(summary(dict(BASELINE)), {"tiny-gpt2": FLOOR}))
    for name in ("|MIA AUC - oracle's| <= 0.05", "KS statistic within",
                 "forget regurgitation <= oracle's", "final > every baseline"):
        assert [v for k, v in found.items() if name in k] == [False], name


def test_a_baseline_that_never_memorised_fails_the_validity_rows():
    never = dict(ORACLE)  # a baseline indistinguishable from the oracle
    found = verdicts(quality.targets(summary(dict(ORACLE), baseline=never),
                                     {"tiny-gpt2": FLOOR}))
    assert found["valid: baseline MIA AUC >= 0.9"] is False
    assert found["valid: baseline MIA AUC >= 0.9 within every task"] is False
    assert found["valid: baseline forget quality < 1e-3"] is False


def test_a_baseline_that_memorised_every_task_is_valid_within_tasks():
    # SemEval's case: the pooled AUC misses 0.9 (easy and hard tasks mixed), every
    # task's own AUC does not
    mixed = dict(BASELINE, mia_auc=0.79)
    found = verdicts(quality.targets(summary(dict(ORACLE), baseline=mixed),
                                     {"tiny-gpt2": FLOOR}))
    assert found["valid: baseline MIA AUC >= 0.9"] is False
    assert found["valid: baseline MIA AUC >= 0.9 within every task"] is True


def test_the_best_variant_is_judged_beside_the_plain_form():
    s = summary(dict(BASELINE))
    s["tiny-gpt2"]["sequential_npo"] = summary(dict(ORACLE, final_score=0.5))[
        "tiny-gpt2"]["sequential"]
    found = verdicts(quality.targets(s, {"tiny-gpt2": FLOOR}))
    assert found["best variant (sequential_npo): forget regurgitation <= oracle's + 0.05"]
    assert not found["sequential: forget regurgitation <= oracle's + 0.05"]


def test_each_seed_trains_its_own_baseline_judged_by_its_own_oracle(tmp_path):
    # a copy of seed 0's baseline would be seed 0's model judged against seed 1's
    # oracle (and the stage checks refuse it): every seed trains its own
    quality.main(["--data", "bundled", "--quick", "--seeds", "1", "--runs",
                  str(tmp_path), "--out", str(tmp_path / "q.json")])
    unit = tmp_path / "bundled-quick" / "tiny-gpt2" / "seed-1"
    for stage in ("baseline", "oracle"):
        assert json.loads((unit / stage / "settings.json").read_text())["seed"] == 1
