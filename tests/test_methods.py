"""Unlearning losses: registry, signs, shapes, and NPO against its formula."""

import math

import pytest
import torch

from companion.config import CourseError, UnlearnConfig
from companion.methods import (METHODS, GradientDifferenceParams, NPOParams, get_method,
                               npo_loss, register, retain_kl, sequence_nll, token_nll)
from companion.models import train_tokenizer
from companion.textloss import collate, encode
from companion.train import frozen_copy
from toy import NO_DROPOUT, tiny_gpt2

TEXTS = [f"The {w} of Amberton sings {n} songs at dawn." for w in
         ("baker", "smith", "weaver", "miller") for n in range(10)]


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    model = tiny_gpt2(tokenizer, **NO_DROPOUT)
    forget = collate(encode(tokenizer, TEXTS[:3], 32), tokenizer.pad_token_id)
    retain = collate(encode(tokenizer, TEXTS[10:14] + ["Short."], 32),
                     tokenizer.pad_token_id)
    return model, forget, retain


def test_registry_has_the_four_methods_and_explains_unknown_names():
    assert {"gradient_ascent", "gradient_difference", "kl", "npo"} <= set(METHODS)
    with pytest.raises(CourseError, match="gradient_ascent.*npo"):
        get_method("gradient_descent")


def test_register_adds_a_method_by_name():
    @register("test_zero")
    def zero(model, forget_batch, retain_batch, reference, params):
        return torch.zeros(()), {}
    try:
        method = get_method("test_zero")
        assert method.loss is zero and method.reference == "none"
    finally:
        del METHODS["test_zero"]


def test_sequence_nll_matches_the_huggingface_loss_and_ignores_padding(toy):
    model, _, retain = toy  # "Short." is padded: its extra positions must not count
    nll, count = sequence_nll(model, retain)
    assert nll.shape == count.shape == (5,)
    assert count.tolist() == (retain["attention_mask"].sum(1) - 1).tolist()
    hf = model(**retain).loss  # HF shifts labels and ignores -100 the same way
    assert token_nll(model, retain).item() == pytest.approx(hf.item(), rel=1e-5)


@pytest.mark.parametrize("name", ["gradient_ascent", "gradient_difference", "kl",
                                  "npo"])
def test_each_method_returns_a_scalar_whose_gradient_raises_the_forget_loss(toy, name):
    model, forget, retain = toy
    reference = frozen_copy(model)
    method = get_method(name)  # the default parameters: weights 1.0, NPO beta 0.1
    loss, terms = method(model, forget, retain, reference,
                         method.params_of(UnlearnConfig(method=name)))
    assert loss.shape == () and math.isfinite(loss.item())
    expected = token_nll(model, forget).item()
    assert terms["forget_loss"] == pytest.approx(expected, rel=1e-5)
    # one small step against the loss's gradient raises the forget loss
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        before = token_nll(model, forget).item()
        saved = [p.detach().clone() for p in model.parameters()]
        for p in model.parameters():
            p -= 1e-2 * p.grad
        after = token_nll(model, forget).item()
        for p, s in zip(model.parameters(), saved):
            p.copy_(s)
    assert after > before


def test_gradient_ascent_is_minus_the_forget_loss(toy):
    model, forget, retain = toy
    method = get_method("gradient_ascent")
    loss, terms = method(model, forget, retain)
    assert loss.item() == pytest.approx(-terms["forget_loss"])


def test_gradient_difference_adds_the_weighted_retain_loss(toy):
    model, forget, retain = toy
    loss, terms = get_method("gradient_difference")(
        model, forget, retain, None, GradientDifferenceParams(retain_weight=2.0))
    expected = -terms["forget_loss"] + 2 * terms["retain_loss"]
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_kl_is_zero_against_itself_and_positive_against_another_model(toy):
    model, _, retain = toy
    itself = retain_kl(model, frozen_copy(model), retain).item()
    assert itself == pytest.approx(0, abs=1e-6)
    other = frozen_copy(model)
    with torch.no_grad():
        other.lm_head.weight.mul_(1.5)
    assert retain_kl(model, other, retain).item() > 1e-4


def test_npo_equals_its_formula_on_hand_made_log_probs():
    logp = torch.tensor([-10.0, -20.0, -5.0])
    ref = torch.tensor([-12.0, -20.0, -4.0])
    beta = 0.5
    expected = -(2 / beta) * sum(math.log(1 / (1 + math.exp(beta * (a - b))))
                                 for a, b in zip(logp.tolist(), ref.tolist())) / 3
    assert npo_loss(logp, ref, beta).item() == pytest.approx(expected, rel=1e-6)
    # equal log-probs: 2/beta * log 2, and a gradient of +1/N per sequence's log-prob
    same = torch.tensor([-3.0, -7.0], requires_grad=True)
    value = npo_loss(same, same.detach(), beta)
    value.backward()
    assert value.item() == pytest.approx(2 / beta * math.log(2))
    assert same.grad.tolist() == pytest.approx([0.5, 0.5])  # minimising lowers logp


def test_npo_at_the_reference_matches_its_formula_on_the_model(toy):
    model, forget, retain = toy
    loss, terms = get_method("npo")(model, forget, retain, frozen_copy(model),
                                    NPOParams(beta=0.2))
    assert loss.item() == pytest.approx(2 / 0.2 * math.log(2), rel=1e-5)
    assert terms["log_ratio"] == pytest.approx(0, abs=1e-4)


def test_each_method_owns_its_parameters_and_reference():
    assert get_method("npo").reference == get_method("kl").reference == "start"
    assert get_method("gradient_ascent").reference == "none"
    config = UnlearnConfig(method="npo",
                           params={"npo": {"beta": 1}, "kl": {"kl_weight": 3}})
    assert get_method("npo").params_of(config) == NPOParams(beta=1.0)
    assert get_method("gradient_difference").params_of(config) == \
        GradientDifferenceParams(retain_weight=1.0)
    with pytest.raises(CourseError, match="'nop', not a method"):
        get_method("npo").params_of(UnlearnConfig(params={"nop": {"beta": 1}}))
    with pytest.raises(CourseError, match="reference 'teacher'"):
        register("test_teacher", reference="teacher")
