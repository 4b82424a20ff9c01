"""Presets, the course tokenizer, loading and saving."""

import time

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from companion.config import CourseError
from companion.runtime import set_seed
from companion.models import (
    PRESETS,
    build_preset,
    course_tokenizer,
    load_model,
    param_count,
    save_model,
    train_tokenizer,
)

TEXTS = [f"The {w} of Amberton sings {n} songs at dawn." for w in
         ("baker", "smith", "weaver", "miller", "potter") for n in range(40)]


@pytest.fixture(scope="module")
def small_tokenizer():
    return train_tokenizer(TEXTS, vocab_size=300)


def test_distil_preset_has_half_the_layers_at_the_same_width():
    big, small = PRESETS["tiny-gpt2"], PRESETS["tiny-distilgpt2"]
    assert small.n_layer * 2 == big.n_layer
    assert small.n_embd == big.n_embd


def test_preset_computes_gpt2s_gelu_in_one_kernel(small_tokenizer):
    # the presets' fused GELU is GPT-2's function ("gelu_new"), only faster: a model
    # switched to gelu_new gives the same logits (the exact erf GELU would not)
    from transformers.activations import ACT2FN
    set_seed(0)
    model = build_preset("tiny-gpt2", small_tokenizer).eval()
    assert model.config.activation_function == "gelu_pytorch_tanh"  # bench/step_speed.py
    ids = torch.randint(0, len(small_tokenizer), (2, 12))
    with torch.no_grad():
        fused = model(input_ids=ids).logits
        for block in model.transformer.h:
            block.mlp.act = ACT2FN["gelu_new"]
        assert torch.allclose(model(input_ids=ids).logits, fused, atol=1e-5)
        for block in model.transformer.h:
            block.mlp.act = ACT2FN["gelu"]
        assert not torch.allclose(model(input_ids=ids).logits, fused, atol=1e-5)


def test_preset_models_have_the_preset_shape(small_tokenizer):
    for name, preset in PRESETS.items():
        model = build_preset(name, small_tokenizer)
        assert len(model.transformer.h) == preset.n_layer
        assert model.config.n_embd == preset.n_embd
        assert model.lm_head.weight is model.transformer.wte.weight  # tied
    small = param_count(build_preset("tiny-distilgpt2", small_tokenizer))
    assert small < param_count(build_preset("tiny-gpt2", small_tokenizer))


def test_tokenizer_training_is_deterministic(small_tokenizer):
    again = train_tokenizer(TEXTS, vocab_size=300)
    assert again.get_vocab() == small_tokenizer.get_vocab()
    text = "The potter of Amberton sings at dawn."
    assert again(text)["input_ids"] == small_tokenizer(text)["input_ids"]
    assert small_tokenizer.decode(small_tokenizer(text)["input_ids"]) == text


def test_course_tokenizer_is_cached_and_stable():
    first, second = course_tokenizer(), course_tokenizer()
    assert first.get_vocab() == second.get_vocab()
    # the BPE stops early when the corpus has no more frequent pairs
    assert 1000 < len(first) <= PRESETS["tiny-gpt2"].vocab_size
    assert first.pad_token == first.eos_token == "<|endoftext|>"


def test_preset_loads_with_tokenizer_on_cpu():
    model, tokenizer = load_model("tiny-distilgpt2", device="cpu")
    assert model.device == torch.device("cpu")
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "right"
    assert model.config.vocab_size == len(tokenizer)


def test_save_and_load_round_trip(tmp_path, small_tokenizer):
    set_seed(0)
    model = build_preset("tiny-distilgpt2", small_tokenizer).eval()
    save_model(model, small_tokenizer, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").exists()
    loaded, tokenizer = load_model(tmp_path / "ckpt", device="cpu")
    ids = torch.tensor([small_tokenizer("The smith sings")["input_ids"]])
    assert torch.equal(model(ids).logits, loaded.eval()(ids).logits)
    assert tokenizer.get_vocab() == small_tokenizer.get_vocab()


def test_local_gpt2_style_folder_loads(tmp_path, small_tokenizer):
    # The real gpt2/distilgpt2 code path, on a folder laid out as the hub's
    config = GPT2Config(vocab_size=len(small_tokenizer), n_positions=32, n_embd=16,
                        n_layer=2, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2-like")
    small_tokenizer.save_pretrained(tmp_path / "gpt2-like")
    model, tokenizer = load_model(str(tmp_path / "gpt2-like"), device="cpu")
    assert model.config.n_layer == 2 and tokenizer.pad_token is not None


def test_saving_nan_weights_is_refused(tmp_path, small_tokenizer):
    model = build_preset("tiny-distilgpt2", small_tokenizer)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] = float("nan")
    with pytest.raises(CourseError, match="NaN"):
        save_model(model, small_tokenizer, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_unreachable_hub_name_fails_fast_with_one_line():
    start = time.perf_counter()
    with pytest.raises(CourseError) as err:
        load_model("gpt2")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "\n" not in message and "tiny-gpt2" in message and "gpt2" in message


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CourseError, match="not a model folder"):
        load_model(str(tmp_path / "nowhere"))
