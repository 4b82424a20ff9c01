"""The method's variants: per-document stopping, chunked interleaving, their stage rows."""

import pytest
import torch

from companion import stages
from companion.config import CourseError, UnlearnConfig
from companion.guard import Calibration
from companion.methods import PerDocumentParams, get_method, sequence_nll
from companion.models import train_tokenizer
from companion.textloss import collate, encode
from companion.train import chunked_batches, negative_finetune
from toy import NO_DROPOUT, tiny_gpt2

TEXTS = [f"The {w} of Amberton sings {n} songs at dawn." for w in
         ("baker", "smith", "weaver", "miller") for n in range(6)]


@pytest.fixture(scope="module")
def toy():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    model = tiny_gpt2(tokenizer, **NO_DROPOUT)
    batch = collate(encode(tokenizer, TEXTS[:4], 32), tokenizer.pad_token_id)
    return tokenizer, model, batch


def grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()
                      if p.grad is not None])


def test_per_document_ascent_leaves_out_the_texts_above_the_ceiling(toy):
    tokenizer, model, batch = toy
    nll, count = sequence_nll(model, batch)
    per_token = (nll / count).detach()
    ceiling = float(per_token.median())  # about half the texts are above it
    below = per_token < ceiling
    assert 0 < below.sum() < len(below)
    method = get_method("per_document_ascent")
    loss, terms = method(model, batch, params=PerDocumentParams(ceiling=ceiling))
    assert terms["active"] == pytest.approx(below.float().mean().item())
    # the same as plain ascent on the texts below the ceiling alone
    kept = {k: v[below] for k, v in batch.items()}
    plain, _ = get_method("gradient_ascent")(model, kept)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-5)
    assert torch.allclose(grads(model, loss), grads(model, plain), atol=1e-6)


def test_per_document_ascent_stops_when_every_text_is_above_the_ceiling(toy):
    tokenizer, model, batch = toy
    method = get_method("per_document_ascent")
    loss, terms = method(model, batch, params=PerDocumentParams(ceiling=1e-3))
    assert loss.item() == 0 and terms["active"] == 0
    assert grads(model, loss).abs().max() == 0
    with pytest.raises(CourseError, match="needs a ceiling"):
        method(model, batch, params=PerDocumentParams())


def test_per_document_stopping_takes_its_ceiling_from_the_calibration(toy):
    tokenizer, model, _ = toy
    config = UnlearnConfig(steps=2, batch_size=4, lr=1e-3, max_length=32,
                           method="per_document_ascent", trainable="all",
                           stop_regurgitation=None, check_every=1)
    with pytest.raises(CourseError, match="pass a calibration"):
        negative_finetune(model, tokenizer, TEXTS[:8], TEXTS[8:], config,
                          progress=False)
    calibration = Calibration(TEXTS[:4], held_out=TEXTS[20:])
    level = calibration.measure(model, tokenizer, 4)["target_loss"]
    result = negative_finetune(model, tokenizer, TEXTS[:8], TEXTS[8:], config,
                               progress=False, calibration=calibration)
    assert result.history[0]["ceiling"] == pytest.approx(level)


def test_chunked_batches_take_the_parts_in_turn(toy):
    tokenizer, _, _ = toy
    texts = TEXTS[:12]
    batches = chunked_batches(tokenizer, texts, chunks=3, steps=6, batch_size=2,
                              max_length=32, seed=0)
    ids = [tuple(map(tuple, next(batches)["input_ids"].tolist())) for _ in range(10)]
    rows = {tuple(r) for b in ids for r in b}
    parts = [{r for b in ids[k:k + 2] for r in b} for k in (0, 2, 4)]
    assert all(len(p) == 4 for p in parts)  # each part: 2 batches of 2 distinct texts
    assert not (parts[0] & parts[1] or parts[1] & parts[2] or parts[0] & parts[2])
    assert len(rows) == 12  # every text in exactly one part
    assert {r for b in ids[6:] for r in b} <= parts[2]  # the last part goes on
    with pytest.raises(CourseError, match="chunks=13 for 12"):
        next(chunked_batches(tokenizer, texts, 13, 6, batch_size=2, max_length=32))


def test_chunked_difference_is_gradient_difference_in_chunks(toy):
    tokenizer, model, batch = toy
    a, _ = get_method("chunked_difference")(model, batch, batch)
    b, _ = get_method("gradient_difference")(model, batch, batch)
    assert a.item() == pytest.approx(b.item())


def test_variants_start_from_the_stabilised_model_on_the_profiles_blocks():
    for name in stages.VARIANTS:
        row = stages.stage(name)
        assert row.after == "stabilised" and row.trainable is None  # like sequential
        assert name in stages.UNLEARN_STAGES and name not in stages.METHOD_STAGES
    assert stages.METHOD_STAGES == ("sequential", *stages.BASELINE_METHODS)
    # losses registered for the variants are no stage of their own
    assert "per_document_ascent" not in stages.STAGES


@pytest.mark.parametrize("ceiling", ["-1", "nan", "inf"])
def test_a_ceiling_that_is_no_loss_level_is_refused_before_training(ceiling):
    config = UnlearnConfig(method="per_document_ascent",
                           params={"per_document_ascent": {"ceiling": float(ceiling)}})
    with pytest.raises(CourseError, match=f"ceiling is {float(ceiling)}: give"):
        get_method("per_document_ascent").params_of(config)


@pytest.mark.parametrize("chunks, message", [(0, "chunks is 0"),
                                             (2.7, "whole number, not 2.7")])
def test_chunks_must_be_a_whole_number_of_at_least_one(chunks, message):
    config = UnlearnConfig(method="chunked_difference",
                           params={"chunked_difference": {"chunks": chunks}})
    with pytest.raises(CourseError, match=message):
        get_method("chunked_difference").params_of(config)


def test_every_chunk_gets_a_share_of_the_budget(toy):
    tokenizer, _, _ = toy
    texts = TEXTS[:12]  # 6 parts of 2 texts, 10 batches of 2: shares 2,2,2,2,1,1
    batches = chunked_batches(tokenizer, texts, chunks=6, steps=10, batch_size=2,
                              max_length=32, seed=0)
    seen = [frozenset(map(tuple, next(batches)["input_ids"].tolist()))
            for _ in range(10)]
    assert len(set(seen)) == 6  # each part of 2 texts is one batch, all 6 are reached
    assert [len(set(seen[:k])) for k in (2, 4, 6, 8, 9, 10)] == [1, 2, 3, 4, 5, 6]


def test_more_chunks_than_batches_is_refused_before_any_batch(toy):
    tokenizer, _, _ = toy
    with pytest.raises(CourseError, match="chunks=8 for a budget of 6 batches"):
        chunked_batches(tokenizer, TEXTS[:12], 8, 6, batch_size=2, max_length=32)
    with pytest.raises(CourseError, match="chunks=13 for 12"):  # no next() needed
        chunked_batches(tokenizer, TEXTS[:12], 13, 6, batch_size=2, max_length=32)


def test_the_registry_entry_not_a_field_name_asks_for_a_ceiling_or_chunks():
    from dataclasses import dataclass

    from companion.guard import needs_calibration
    from companion.methods import METHODS, register

    @dataclass(frozen=True)
    class Mine:  # a learner's own method whose settings happen to share the names
        ceiling: float = 1.0
        chunks: int = 3

    @register("test_own_names", Mine)
    def own(model, forget_batch, retain_batch, reference, params):
        return get_method("gradient_ascent")(model, forget_batch)
    try:
        mine = get_method("test_own_names")
        assert not mine.ceiling and not mine.chunked
        assert not needs_calibration(UnlearnConfig(method="test_own_names"))
    finally:
        del METHODS["test_own_names"]
    assert get_method("per_document_ascent").ceiling
    assert get_method("chunked_difference").chunked
    assert needs_calibration(UnlearnConfig(method="per_document_ascent"))
