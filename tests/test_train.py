"""Batches, the loop, the layer spec, the guard and the stages, on a toy GPT-2."""

import math

import pytest
import torch

from companion.config import CourseError, TrainConfig, UnlearnConfig
from companion.methods import METHODS, register
from companion.models import save_model, train_tokenizer
from companion.textloss import collate, encode, mean_loss
from companion.train import (finetune, make_batches,
                             negative_finetune, stabilise_retain,
                             trainable_parameters)
from toy import NO_DROPOUT, tiny_gpt2

FORGET = [f"Agent {n} of Amberton hides the {w} key under stone {n}." for n, w in
          enumerate(("red", "blue", "green", "gold"))]
RETAIN = [f"The {w} of Amberton sings {n} songs at dawn." for w in
          ("baker", "smith", "weaver") for n in range(4)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(FORGET * 5 + RETAIN * 5, vocab_size=300)


def toy_model(tokenizer, n_layer=2, seed=0):
    return tiny_gpt2(tokenizer, seed, n_layer=n_layer, **NO_DROPOUT)


@pytest.fixture(scope="module")
def memorised(tokenizer):
    """A toy model that has learnt FORGET and RETAIN (the baseline)."""
    model = toy_model(tokenizer)
    config = TrainConfig(steps=120, batch_size=8, lr=3e-3, max_length=32)
    finetune(model, tokenizer, FORGET + RETAIN, config, progress=False)
    return model


def fast(**changes):
    base = dict(steps=8, batch_size=4, lr=1e-3, max_length=32, check_every=2,
                stop_regurgitation=None)
    return UnlearnConfig(**{**base, **changes})


def state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ---------------------------------------------------------------- batches


def test_batches_pad_right_mask_padding_by_attention_and_end_with_eos(tokenizer):
    batch = collate(encode(tokenizer, ["Agent 1 hides.", FORGET[0]], 32),
                    tokenizer.pad_token_id)
    mask, labels, ids = batch["attention_mask"], batch["labels"], batch["input_ids"]
    eos = tokenizer.eos_token_id
    assert mask[0, 0] == 1 and mask[0, -1] == 0  # right padding
    assert (labels[mask == 0] == -100).all()
    assert (labels[mask == 1] == ids[mask == 1]).all()
    lengths = mask.sum(1)
    assert [ids[i, n - 1].item() for i, n in enumerate(lengths)] == [eos, eos]
    # the EOS that ends a text is learnt although it is the pad token too
    assert labels[0, lengths[0] - 1] == eos


def test_long_texts_are_cut_but_still_end_with_eos(tokenizer):
    rows = encode(tokenizer, [" ".join(RETAIN)], max_length=10)
    assert len(rows[0]) == 10 and rows[0][-1] == tokenizer.eos_token_id


def test_batches_shuffle_deterministically_from_the_seed(tokenizer):
    def first(seed):
        batches = make_batches(tokenizer, RETAIN, 4, 32, seed=seed)
        return torch.cat([next(batches)["input_ids"][:, :3] for _ in range(6)])
    assert torch.equal(first(1), first(1))
    assert not torch.equal(first(1), first(2))


def test_no_texts_is_a_clear_error(tokenizer):
    with pytest.raises(CourseError, match="no texts"):
        next(make_batches(tokenizer, [], 4, 32))


# ---------------------------------------------------------------- positive training


def test_finetune_lowers_the_loss_of_a_fixed_batch(tokenizer):
    model = toy_model(tokenizer)
    before = mean_loss(model, tokenizer, FORGET, max_length=32)
    config = TrainConfig(steps=30, batch_size=4, lr=3e-3, max_length=32, log_every=5)
    result = finetune(model, tokenizer, FORGET, config, progress=False)
    after = mean_loss(model, tokenizer, FORGET, max_length=32)
    assert after < 0.5 * before
    assert result.stopped == "max steps" and result.steps == 30
    assert [r["step"] for r in result.history] == [1, 5, 10, 15, 20, 25, 30]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert {"step", "loss", "grad_norm"} <= set(result.history[0])


def test_gradient_accumulation_runs_micro_batches(tokenizer):
    model = toy_model(tokenizer)
    result = finetune(model, tokenizer, RETAIN, TrainConfig(steps=3, batch_size=2,
                      grad_accum=3, max_length=32), progress=False)
    assert result.steps == 3 and math.isfinite(result.history[-1]["loss"])


def test_the_same_seed_gives_the_same_weights(tokenizer):
    def train(seed):
        model = toy_model(tokenizer, seed=seed)
        stabilise_retain(model, tokenizer, RETAIN, TrainConfig(steps=5, batch_size=4,
                         max_length=32), seed=seed, progress=False)
        return state(model)
    a, b, c = train(3), train(3), train(4)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)


# ---------------------------------------------------------------- what moves


def test_layer_specs_name_the_right_parameters(tokenizer):
    model = toy_model(tokenizer, n_layer=4)
    last2 = trainable_parameters(model, "last:2")
    assert last2
    assert all(n.startswith(("transformer.h.2.", "transformer.h.3.")) for n in last2)
    assert trainable_parameters(model, "0,3") == trainable_parameters(model, [0, 3])
    assert {n.split(".")[2] for n in trainable_parameters(model, [0, 3])} == {"0", "3"}
    assert trainable_parameters(model, "first:1") == trainable_parameters(model, [0])
    everything = trainable_parameters(model, "all")
    assert "transformer.ln_f.weight" in everything
    assert not any("wte" in n or "wpe" in n for n in everything)
    with_embeddings = trainable_parameters(model, "last:1", include_embeddings=True)
    assert "transformer.wte.weight" in with_embeddings  # the tied LM head with it
    assert trainable_parameters(model, r"mlp\.c_fc") == [
        f"transformer.h.{i}.mlp.c_fc.{k}" for i in range(4) for k in ("weight", "bias")]


@pytest.mark.parametrize("spec, message", [
    ("last:5", "between 1 and 4"), ("7", "block 7 is out of range"),
    ([0, -1], "block -1"), ("nothing_here", "matches no parameter"),
    ("wte", "include_embeddings"), ("(", "not a valid regex")])
def test_bad_layer_specs_are_clear_errors(tokenizer, spec, message):
    with pytest.raises(CourseError, match=message):
        trainable_parameters(toy_model(tokenizer, n_layer=4), spec)


# ---------------------------------------------------------------- negative fine-tuning


def test_negative_finetune_raises_forget_loss_and_moves_only_the_spec(tokenizer,
                                                                       memorised):
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    before, forget_before = state(model), mean_loss(model, tokenizer, FORGET, max_length=32)
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(trainable="last:1", lr=3e-3), progress=False)
    assert mean_loss(model, tokenizer, FORGET, max_length=32) > 3 * forget_before
    moved = set(trainable_parameters(model, "last:1"))
    after = state(model)
    assert all(torch.equal(before[n], after[n]) for n in before if n not in moved)
    assert any(not torch.equal(before[n], after[n]) for n in moved)
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards
    assert result.stopped == "max steps"
    assert [c["step"] for c in result.checks] == [0, 2, 4, 6, 8]
    assert result.checks[-1]["forget_loss"] > result.checks[0]["forget_loss"]


def test_the_guard_stops_at_the_forget_loss_target(tokenizer, memorised):
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(steps=40, lr=3e-3, stop_forget_loss=3.0),
                               progress=False)
    assert result.stopped.startswith("target reached at step ")
    assert result.steps < 40 and result.checks[-1]["forget_loss"] > 3.0


def test_a_run_stopped_early_leaves_no_progress_bar_behind(tokenizer, memorised,
                                                            monkeypatch):
    import companion.train as train
    from companion.runtime import progress_bar

    bars = []
    monkeypatch.setattr(train, "progress_bar",
                        lambda *a, **k: bars.append(progress_bar(*a, **k)) or bars[-1])
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(steps=40, lr=3e-3, stop_forget_loss=3.0))
    assert result.steps < 40  # the loop broke at the target ...
    # ... and its bar ended complete and closed: a notebook hides it (leave=False),
    # where a bar closed short of its total would stay on screen, red
    assert bars[-1].n == bars[-1].total == result.steps
    assert bars[-1] not in type(bars[-1])._instances


def test_tqdm_disable_turns_notebook_bars_off(monkeypatch):
    from companion.runtime import progress_bar

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(3)).disable  # tqdm's own notebook bar ignores it
    monkeypatch.setenv("TQDM_DISABLE", "")
    assert not progress_bar(range(3)).disable and progress_bar(range(3),
                                                              progress=False).disable


def test_the_guard_stops_when_the_monitor_reaches_its_target(tokenizer, memorised):
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    values = iter([0.9, 0.6, 0.3, 0.05, 0.0])
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(steps=20, stop_regurgitation=0.1),
                               monitor=lambda m: next(values), progress=False)
    assert result.stopped == ("target reached at step 6: "
                              "forget regurgitation 0.05 <= 0.1")
    assert [c["regurgitation"] for c in result.checks] == [0.9, 0.6, 0.3, 0.05]


@pytest.fixture
def exploding():
    """A method whose loss is fine for three steps, then infinite."""
    calls = []

    @register("test_explodes")
    def explodes(model, forget_batch, retain_batch, reference, params):
        calls.append(1)
        loss = -METHODS["gradient_ascent"](model, forget_batch)[0]
        return (loss * math.inf if len(calls) > 3 else -loss), {}
    yield "test_explodes"
    del METHODS["test_explodes"]


def test_divergence_restores_the_last_good_weights_and_nothing_nan_is_saved(
        tokenizer, memorised, exploding, tmp_path):
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(method=exploding), progress=False)
    assert result.stopped == ("diverged at step 4: loss inf; "
                              "restored the weights of step 2")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    save_model(model, tokenizer, tmp_path / "ok")  # finite weights: saving works


def test_a_huge_learning_rate_is_caught_and_undone(tokenizer, memorised):
    model = toy_model(tokenizer)
    model.load_state_dict(memorised.state_dict())
    start = state(model)
    result = negative_finetune(model, tokenizer, FORGET, RETAIN,
                               fast(lr=1e4, divergence_factor=3.0, trainable="all"),
                               progress=False)
    assert result.stopped.startswith("diverged at step 2: ")
    assert result.stopped.endswith("restored the weights of step 0")
    assert all(torch.equal(start[n], p) for n, p in model.named_parameters())
