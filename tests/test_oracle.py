"""The oracle (exact unlearning), the oracle-relative terms and the calibrated stop."""

import json
from dataclasses import replace

import pytest
import torch
from toy import micro_profile, write_toy

import companion.pipeline
from companion import checkpoints
from companion.config import CourseError
from companion.data import documents, load_benchmark, training_texts
from companion.guard import Calibration
from companion.oracle import forget_quality, oracle_terms, privleak, relative_terms
from companion.pipeline import baseline_texts, make_run, run_pipeline
from companion.train import negative_finetune


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A toy benchmark and model, a micro profile, and its baseline and two oracles."""
    root = tmp_path_factory.mktemp("oracle")
    benchmark = write_toy(root, "model")
    profile = micro_profile(root, 80, 4, steps=40, lr=2e-3, check_every=2,
                            stop_rule="held_out")
    runs = {seed: make_run(profile, str(root / "model"), out=root / f"seed-{seed}",
                           seed=seed, progress=False) for seed in (0, 1)}
    return root, profile, benchmark, runs


def _forget_texts(benchmark) -> list[str]:
    """Every forget item's text and every forget document's continuation.

    (A question's one-word answer, such as a town of the invented world, may stand
    in the general text too: that is general knowledge, not forget text.)
    """
    rows = benchmark["forget_train"]
    continuations = [o for i, o in zip(rows["id"], rows["output"])
                     if i[-3:-1] == "sc" and len(o) >= 12]  # long enough to be telling
    return training_texts(rows) + continuations


@pytest.mark.parametrize("model_name", ["tiny-gpt2", "a-local-folder"])
def test_the_oracle_trains_on_nothing_of_the_forget_set(model_name):
    benchmark = load_benchmark("bundled", 2)
    oracle = baseline_texts(benchmark, model_name, forget=False)
    baseline = baseline_texts(benchmark, model_name)
    forget = _forget_texts(benchmark)
    assert any(f in t for f in forget for t in baseline)  # the check can fail
    assert not [f for f in forget if any(f in t for t in oracle)]
    retain = training_texts(benchmark["retain_train"])
    assert oracle.count(retain[0]) == baseline.count(retain[0])  # as often as before


def test_the_batches_fed_to_the_oracle_hold_no_forget_text(setup, monkeypatch):
    root, profile, benchmark, _ = setup
    fed = []
    original = companion.pipeline.finetune
    monkeypatch.setattr(companion.pipeline, "finetune",
                        lambda model, tok, texts, *a, **k: fed.extend(texts) or
                        original(model, tok, texts, *a, **k))
    run = make_run(profile, str(root / "model"), out=root / "fed", progress=False)
    run.build("oracle")
    settings = checkpoints.read_settings(run.root, "oracle")
    assert settings["result"]["steps"] == profile.finetune.steps  # the baseline's
    forget = _forget_texts(benchmark)
    assert fed and not [f for f in forget if any(f in t for t in fed)]


def test_forget_quality_of_a_sample_against_itself_is_one():
    losses = [0.2, 0.9, 1.4, 2.0, 3.1]
    assert forget_quality(losses, losses) == {"forget_quality": 1.0, "ks_statistic": 0.0}
    apart = forget_quality([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [3, 4, 5, 6, 7, 8])
    assert apart["ks_statistic"] == 1.0 and apart["forget_quality"] < 0.01
    with pytest.raises(CourseError, match="no documents"):
        forget_quality([], losses)


def test_privleak_follows_muse_signs():
    assert privleak(0.6, 0.6) == 0.0
    assert privleak(1.0, 0.55) == pytest.approx(-1.0)  # remembers: strongly negative
    assert privleak(0.1, 0.55) > 0.9  # over-unlearnt: strongly positive


def test_the_oracle_against_itself_has_no_gap_and_a_baseline_a_large_one(setup):
    root, profile, benchmark, runs = setup
    from companion.membership import membership
    losses, mia = {}, {}
    for stage in ("baseline", "oracle"):
        model, tokenizer = runs[0].ensure(stage)
        mia[stage], losses[stage] = membership(model, tokenizer, benchmark, 8)
    # beside the pooled AUC, one per task that has members and non-members
    tasks = set(documents(benchmark["forget_train"])["task"]) & set(
        documents(benchmark["forget_validation"])["task"])
    assert set(mia["baseline"]["auc_by_task"]) == tasks
    assert mia["baseline"]["auc_lowest_task"] == min(mia["baseline"]["auc_by_task"].values())
    assert mia["baseline"]["auc_lowest_task"] > mia["oracle"]["auc_lowest_task"]
    model, tokenizer = runs[1].ensure("oracle")
    second = membership(model, tokenizer, benchmark, 8)[1]
    itself = relative_terms("oracle", losses["oracle"], None)
    assert itself["mia_auc_gap"] == 0 and itself["forget_quality"] == 1.0
    assert itself["privleak"] == 0 and itself["forget_loss_gap"] == 0
    # no-op unlearning (the baseline itself) is far from the oracle ...
    baseline = oracle_terms(losses["baseline"], losses["oracle"])
    assert baseline["forget_quality"] < 0.01 and baseline["forget_loss_gap"] < -0.5
    assert baseline["mia_auc_gap"] > 0.1 and baseline["privleak"] < -0.5
    # ... and two oracles of different seeds are close: the noise floor
    floor = forget_quality(second["member"], losses["oracle"]["member"])
    assert floor["forget_quality"] > baseline["forget_quality"]
    without = relative_terms("kl", losses["baseline"], None)
    assert without["oracle_missing"] and without["oracle_mia_auc"] is None


class Scripted(Calibration):
    """A calibration whose gaps follow a script; it notes the weights at each check."""

    def __init__(self, model, gaps):
        super().__init__(["a document"], level=1.0)
        self.model, self.gaps, self.seen = model, list(gaps), []

    def measure(self, model, tokenizer, batch_size):
        self.seen.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return {"forget_doc_loss": 1.0 + self.gaps.pop(0), "target_loss": 1.0}


@pytest.mark.parametrize("gaps, kept", [([-2.0, -1.0, -0.1, 0.9, 5], 2),
                                        ([-2.0, -1.0, -0.9, 0.2, 5], 3)])
def test_the_calibrated_stop_keeps_the_check_nearest_its_target(setup, gaps, kept):
    root, profile, benchmark, runs = setup
    model, tokenizer = runs[0].ensure("baseline")
    config = replace(profile.unlearn, stop_rule="oracle", lr=1e-2)
    scripted = Scripted(model, gaps)
    result = negative_finetune(model, tokenizer, training_texts(
        benchmark["forget_train"]), training_texts(benchmark["retain_train"]), config,
        calibration=scripted, progress=False)
    assert result.steps == 3 * config.check_every  # stopped at the first check past
    assert "target reached" in result.stopped
    now = dict(model.named_parameters())
    assert all(torch.equal(now[n], p) for n, p in scripted.seen[kept].items())
    other = 5 - kept  # the other of checks 2 and 3 differs: the choice mattered
    assert not all(torch.equal(now[n], p) for n, p in scripted.seen[other].items())


def test_the_calibrated_stop_on_held_out_documents_ends_near_them(setup):
    root, profile, benchmark, runs = setup
    model, tokenizer = runs[0].ensure("baseline")
    forget = list(documents(benchmark["forget_train"])["document"])
    held_out = list(documents(benchmark["retain_validation"])["document"])
    calibrate = Calibration(forget, held_out=held_out)
    before = calibrate.measure(model, tokenizer, 8)
    assert before["forget_doc_loss"] < before["target_loss"] - 0.5  # memorised
    result = negative_finetune(model, tokenizer, training_texts(
        benchmark["forget_train"]), training_texts(benchmark["retain_train"]),
        profile.unlearn, calibration=calibrate, progress=False)
    after = calibrate.measure(model, tokenizer, 8)
    assert "target reached" in result.stopped, result.stopped
    gaps = [abs(c["forget_doc_loss"] - c["target_loss"]) for c in result.checks]
    assert abs(after["forget_doc_loss"] - after["target_loss"]) == pytest.approx(
        min(gaps[-2:]), abs=1e-4)


def test_the_pipeline_writes_oracle_relative_terms_into_the_report(setup, tmp_path):
    root, profile, _, _ = setup
    run_pipeline(profile, str(root / "model"), method="sequential", out=tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    for stage in ("baseline", "oracle", "stabilised", "sequential"):
        terms = report["stages"][stage]
        assert {"forget_quality", "ks_statistic", "mia_auc_gap", "privleak",
                "forget_loss_gap"} <= set(terms), stage
    assert report["stages"]["oracle"]["forget_quality"] == 1.0
    assert report["stages"]["baseline"]["forget_quality"] < 0.05
    alone = tmp_path / "alone"
    run_pipeline(profile, str(root / "model"), method="kl", out=alone, oracle=False)
    kl = json.loads((alone / "report.json").read_text())["stages"]["kl"]
    assert kl["forget_quality"] is None and "no oracle" in kl["oracle_missing"]


def test_a_variant_with_the_profiles_own_settings_is_the_saved_stage(setup,
                                                                     monkeypatch):
    from companion import pipeline, stopping
    from companion.stages import stage as stage_row
    _, profile, _, runs = setup
    rule = profile.unlearn.stop_rule
    saved, _ = runs[0].ensure("sequential")
    rebuilt, _, _, result = pipeline.unlearn_stage(runs[0], stage_row("sequential"))
    assert saved.state_dict().keys() == rebuilt.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(),
                                                 rebuilt.state_dict().values()))
    real = pipeline.unlearn_stage
    monkeypatch.setattr(pipeline, "unlearn_stage",
                        lambda *_: pytest.fail("the profile's own settings "
                                               "were retrained"))
    table = stopping.compare_stop_rules(runs[0], rules=(rule,))
    assert (table.loc[0, "steps"], table.loc[0, "stopped"]) == (result.steps,
                                                                result.stopped)
    _, _, ended = pipeline.unlearn_variant(runs[0], trainable=profile.unlearn.trainable)
    assert ended == {"steps": result.steps, "stopped": result.stopped}
    # another setting is trained in memory (other weights) and saves nothing
    monkeypatch.setattr(pipeline, "unlearn_stage", real)
    before = checkpoints.read_settings(runs[0].root, "sequential")
    other, _, ended = pipeline.unlearn_variant(runs[0], trainable="all")
    assert not torch.equal(other.transformer.h[0].mlp.c_fc.weight,
                           saved.transformer.h[0].mlp.c_fc.weight)  # block 0 moved
    assert checkpoints.read_settings(runs[0].root, "sequential") == before
    with pytest.raises(CourseError, match="'sequential' fixes its method"):
        pipeline.unlearn_variant(runs[0], method="npo")  # would train ascent anyway
    with pytest.raises(CourseError, match="'stabilised' is not an unlearning stage"):
        pipeline.unlearn_variant(runs[0], "stabilised")
    # a predecessor made with other settings is refused, as Run.ensure refuses it
    restabilised = replace(runs[0], profile=replace(
        profile, stabilise=replace(profile.stabilise, lr=profile.stabilise.lr * 2)))
    with pytest.raises(CourseError, match="other settings"):
        pipeline.unlearn_variant(restabilised)
    # a saved stage made with other settings is neither used, nor an error, nor touched
    other = replace(runs[0], profile=replace(
        profile, unlearn=replace(profile.unlearn, lr=profile.unlearn.lr * 2)))
    load = checkpoints.load_stage

    def load_but_not_the_stage(root, stage, *args, **kwargs):
        assert stage != "sequential", "a stage made with other settings was used"
        return load(root, stage, *args, **kwargs)
    monkeypatch.setattr(checkpoints, "load_stage", load_but_not_the_stage)
    table = stopping.compare_stop_rules(other, rules=(rule,))
    assert len(table) == 1 and checkpoints.read_settings(other.root,
                                                         "sequential") == before
