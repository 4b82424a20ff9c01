"""Stages end to end on a toy model and a toy benchmark written by the test."""

import json
from dataclasses import replace

import pytest
import torch
from toy import micro_profile, write_toy

from companion import checkpoints
from companion.config import CourseError, override
from companion.data import document_id, documents, load_general, training_texts
from companion.pipeline import (baseline_texts, ensure_stage, make_run,
                                method_config, run_pipeline, run_stage,
                                sequential_requests, split_requests)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A toy benchmark folder, a toy model folder and a tiny profile using both."""
    root = tmp_path_factory.mktemp("pipeline")
    benchmark = write_toy(root, "model")
    profile = micro_profile(root, 60, 4, steps=6, lr=1e-3, check_every=3,
                            stop_regurgitation=None)
    return root, profile, benchmark


def test_split_requests_keeps_documents_whole_and_in_order(setup):
    forget = setup[2]["forget_train"]
    requests = split_requests(forget, 4)
    docs = [[document_id(i) for i in r["id"]] for r in requests]
    assert [len(set(d)) for d in docs] == [2, 1, 2, 1]  # 6 documents, near-equal
    assert sum(docs, []) == [document_id(i) for i in forget["id"]]
    with pytest.raises(CourseError, match="between 1 and 6"):
        split_requests(forget, 7)


def test_methods_run_on_all_blocks_and_sequential_as_profiled(setup):
    profile = setup[1]
    assert method_config(profile, "sequential") == profile.unlearn
    config = method_config(profile, "kl")
    assert config.method == "kl" and config.trainable == "all"
    assert config.steps == profile.unlearn.steps  # the same budget


def test_stages_run_in_order_and_save_their_settings(setup, tmp_path):
    root, profile, _ = setup
    model_dir = str(root / "model")
    with pytest.raises(CourseError, match="01_baseline_finetuning"):
        run_stage("stabilised", profile, model_dir, out=tmp_path, progress=False)
    run_stage("baseline", profile, model_dir, out=tmp_path, progress=False)
    with pytest.raises(CourseError, match="already exists"):
        run_stage("baseline", profile, model_dir, out=tmp_path, progress=False)
    run_stage("stabilised", profile, model_dir, out=tmp_path, progress=False)
    run_stage("unlearn", profile, model_dir, out=tmp_path, progress=False)  # sequential
    run_stage("npo", profile, model_dir, out=tmp_path, progress=False)
    base = checkpoints.read_settings(tmp_path, "baseline")
    sequential = checkpoints.read_settings(tmp_path, "sequential")
    assert sequential["started_from"] == "stabilised"
    assert checkpoints.read_settings(tmp_path, "npo")["started_from"] == "baseline"
    assert sequential["configs"]["unlearn"]["trainable"] == profile.unlearn.trainable
    assert sequential["losses"]["forget_loss"] > base["losses"]["forget_loss"]
    assert base["result"]["steps"] == 60 and base["seed"] == 0
    history = checkpoints.read_history(tmp_path, "sequential")
    assert [c["step"] for c in history["checks"]] == [0, 3, 6]
    with pytest.raises(CourseError, match="--method goes with the stage 'unlearn'"):
        run_stage("baseline", profile, model_dir, out=tmp_path, method="kl")
    with pytest.raises(CourseError, match="unknown stage"):
        run_stage("finetuned", profile, model_dir, out=tmp_path)
    with pytest.raises(CourseError, match="its stage is sequential_chunked"):
        run_stage("unlearn", profile, model_dir, out=tmp_path,
                  method="chunked_difference")


def test_ensure_stage_builds_what_is_missing_then_loads(setup, tmp_path):
    root, profile, _ = setup
    model, _ = ensure_stage(profile, "sequential", str(root / "model"), out=tmp_path,
                            progress=False)
    assert all(checkpoints.has_stage(tmp_path, s)
               for s in ("baseline", "stabilised", "sequential"))
    again, _ = ensure_stage(profile, "sequential", str(root / "model"), out=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values()))


def test_sequential_requests_save_one_checkpoint_per_request(setup, tmp_path):
    root, profile, benchmark = setup
    model, tokenizer = checkpoints.models.load_model(root / "model", device="cpu")
    requests = split_requests(benchmark["forget_train"], 2)
    results = sequential_requests(model, tokenizer, requests, benchmark["retain_train"],
                                  profile.unlearn, tmp_path,
                                  stabilise=profile.stabilise, progress=False)
    assert len(results) == 2
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["request-1", "request-2"]
    second = checkpoints.read_settings(tmp_path, "request-2")
    assert second["request"] == 2 and second["documents"] == 3
    assert second["stabilise"]["steps"] == profile.stabilise.steps


def test_requests_by_per_document_ascent_take_their_ceiling_from_held_out(setup,
                                                                            tmp_path):
    root, profile, benchmark = setup
    model, tokenizer = checkpoints.models.load_model(root / "model", device="cpu")
    config = replace(profile.unlearn, method="per_document_ascent", steps=1)
    held_out = list(documents(benchmark["retain_validation"])["document"])
    sequential_requests(model, tokenizer, [benchmark["forget_train"]],
                        benchmark["retain_train"], config, tmp_path, progress=False,
                        held_out=held_out)  # the stop rule is steps: no calibrated stop
    history = checkpoints.read_history(tmp_path, "request-1")["history"]
    assert history[0]["ceiling"] > 0


def test_run_requests_builds_each_request_and_ensure_loads_them(setup, tmp_path):
    root, profile, _ = setup
    run = make_run(profile, str(root / "model"), out=tmp_path, progress=False)
    with pytest.raises(CourseError, match="no 'baseline' checkpoint"):
        run.requests(2)
    run.build("baseline")
    results = run.requests(2)
    assert len(results) == 2 and not run.has("request-3")
    assert checkpoints.read_settings(tmp_path, "request-2")["n_requests"] == 2
    with pytest.raises(CourseError, match="request-1.* already exists"):
        run.requests(2)
    saved = (tmp_path / "request-2" / "settings.json").read_text()
    ensure_stage(profile, "request-2", str(root / "model"), out=tmp_path,
                 n_requests=2)  # loaded, not rebuilt
    assert (tmp_path / "request-2" / "settings.json").read_text() == saved
    with pytest.raises(CourseError, match="other settings.*n_requests 2 -> 3"):
        ensure_stage(profile, "request-2", str(root / "model"), out=tmp_path)
    with pytest.raises(CourseError, match="request-3 is not among request-1..request-2"):
        make_run(profile, str(root / "model"), out=tmp_path, n_requests=2).build(
            "request-3")


def test_request_1_starts_from_the_saved_stabilised_stage_bit_for_bit(setup, tmp_path,
                                                                     monkeypatch):
    import companion.erasure
    root, profile, _ = setup
    runs = [make_run(profile, str(root / "model"), out=tmp_path / name, progress=False)
            for name in ("alone", "after-02")]
    for run in runs:
        run.build("baseline")
    runs[0].requests(1)  # no stabilised stage: request 1 stabilises itself
    runs[1].build("stabilised")
    monkeypatch.setattr(companion.erasure, "stabilise_retain",
                        lambda *_, **__: pytest.fail("request 1 stabilised again"))
    runs[1].requests(1)
    made = [checkpoints.load_stage(run.root, "request-1")[0].state_dict()
            for run in runs]
    assert all(torch.equal(made[0][k], made[1][k]) for k in made[0])
    settings = checkpoints.read_settings(runs[1].root, "request-1")
    stabilised = checkpoints.read_settings(runs[1].root, "stabilised")
    assert (settings["stabilise"]["stage"], settings["stabilise"]["id"]) == (
        "stabilised", stabilised["id"])


def test_baseline_texts_add_general_text_only_for_presets(setup):
    benchmark = setup[2]
    items = (training_texts(benchmark["forget_train"])
             + training_texts(benchmark["retain_train"]))
    assert baseline_texts(benchmark, "gpt2") == items  # pretrained: items only
    texts = baseline_texts(benchmark, "tiny-gpt2")
    corpus = [t for t in texts if t not in items]
    assert 0 < len(corpus) <= 2 * len(items)
    assert texts[: len(corpus)] == list(load_general()["corpus"]["text"])[: len(corpus)]
    assert abs((len(texts) - len(corpus)) / len(texts) - 0.5) < 0.1  # items ~ half


def test_run_pipeline_reuses_saved_stages_and_evaluates_each(setup, tmp_path,
                                                             monkeypatch):
    root, profile, _ = setup
    import companion.pipeline
    calls = []
    monkeypatch.setattr(companion.pipeline, "evaluate_checkpoint",
                        lambda folder, data, out, prof: calls.append(folder.name) or {})
    run_stage("baseline", profile, str(root / "model"), out=tmp_path, progress=False)
    before = (tmp_path / "baseline" / "settings.json").read_text()
    terms = run_pipeline(profile, str(root / "model"), method="kl", out=tmp_path,
                         oracle=False)
    assert calls == ["baseline", "kl"] and set(terms) == {"baseline", "kl"}
    assert not (tmp_path / "oracle").exists()  # --no-oracle: not built
    calls.clear()
    run_pipeline(profile, str(root / "model"), method="kl", out=tmp_path)
    assert calls == ["oracle", "baseline", "kl"]  # the oracle is judged first
    assert (tmp_path / "baseline" / "settings.json").read_text() == before  # reused
    with pytest.raises(CourseError, match="seed 0"):
        run_pipeline(profile, str(root / "model"), method="kl", out=tmp_path, seed=1)


def test_a_saved_stage_is_reused_only_with_the_same_settings(setup, tmp_path):
    root, profile, _ = setup
    model_dir = str(root / "model")
    ensure_stage(profile, "stabilised", model_dir, out=tmp_path, progress=False)
    steeper = replace(profile, finetune=replace(profile.finetune,
                                                lr=20 * profile.finetune.lr))
    with pytest.raises(CourseError, match=r"configs\.finetune\.lr 0\.005 -> 0\.1"):
        ensure_stage(steeper, "baseline", model_dir, out=tmp_path, progress=False)
    # the refused stage is kept as it was; rebuilding the baseline makes the
    # stabilised stage built on the old one stale in turn
    run_stage("baseline", profile, model_dir, out=tmp_path, progress=False,
              overwrite=True)
    with pytest.raises(CourseError, match="'baseline' was rebuilt since"):
        ensure_stage(profile, "stabilised", model_dir, out=tmp_path, progress=False)
    assert checkpoints.has_stage(tmp_path, "stabilised")  # refused, not overwritten


def test_method_parameters_stale_a_stage_only_when_its_own_change(setup, tmp_path):
    root, profile, _ = setup
    model_dir = str(root / "model")
    ensure_stage(profile, "npo", model_dir, out=tmp_path, progress=False)
    saved = checkpoints.read_settings(tmp_path, "npo")
    assert saved["configs"]["unlearn"]["params"] == {"npo": {"beta": 0.1}}
    # a folder saved when the parameters sat on UnlearnConfig is not refused
    unlearn = saved["configs"]["unlearn"]
    del unlearn["params"]
    unlearn.update(retain_weight=1.0, kl_weight=1.0, npo_beta=0.1)
    (tmp_path / "npo" / "settings.json").write_text(json.dumps(saved))
    ensure_stage(profile, "npo", model_dir, out=tmp_path)
    explicit = override(profile, ["unlearn.params.npo.beta=0.1"])  # the default
    ensure_stage(explicit, "npo", model_dir, out=tmp_path)
    # a changed NPO beta is detected, in old and new folders; other methods ignore it
    softer = override(profile, ["unlearn.params.npo.beta=0.05"])
    with pytest.raises(CourseError, match=r"params\.npo\.beta 0\.1 -> 0\.05"):
        ensure_stage(softer, "npo", model_dir, out=tmp_path)
    ensure_stage(softer, "baseline", model_dir, out=tmp_path)
    with pytest.raises(CourseError, match="npo has no hyperparameter 'bta'"):
        ensure_stage(override(profile, ["unlearn.params.npo.bta=1"]), "npo", model_dir,
                     out=tmp_path)


def test_each_variant_builds_from_the_stabilised_model_on_sequentials_blocks(setup,
                                                                            tmp_path):
    root, profile, _ = setup
    model_dir = str(root / "model")
    for stage in ("baseline", "stabilised", "sequential_per_document",
                  "sequential_chunked", "sequential_npo"):
        run_stage(stage, profile, model_dir, out=tmp_path, progress=False)
    for stage in ("sequential_per_document", "sequential_chunked", "sequential_npo"):
        saved = checkpoints.read_settings(tmp_path, stage)
        assert saved["started_from"] == "stabilised"
        assert saved["configs"]["unlearn"]["trainable"] == profile.unlearn.trainable
    # per-document stopping: its ceiling is the held-out documents' loss at the start,
    # whatever the stop rule (this profile stops by steps only)
    history = checkpoints.read_history(tmp_path, "sequential_per_document")["history"]
    assert history[0]["ceiling"] > 0 and 0 <= history[0]["active"] <= 1
    chunked = checkpoints.read_settings(tmp_path, "sequential_chunked")["configs"]
    assert chunked["unlearn"]["params"] == {
        "chunked_difference": {"chunks": 4, "retain_weight": 1.0}}
