"""Per-channel round-to-nearest quantisation covers GPT-2's Conv1D blocks."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from companion import quantise
from companion.config import CourseError


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=3, n_head=2,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def test_tensor_levels_and_error_by_hand():
    w = torch.tensor([[0.0, 0.1, 0.2, 0.3, 1.0], [-1.0, -0.5, 0.0, 0.49, 1.0]])
    q = quantise.quantise_tensor(w, bits=2, dim=0)  # 4 levels per row
    assert q[0].tolist() == pytest.approx([0.0, 0.0, 1 / 3, 1 / 3, 1.0])
    assert q[1].tolist() == pytest.approx([-1.0, -1 / 3, 1 / 3, 1 / 3, 1.0])
    # channels along dim=1 (Conv1D's (in, out)): the same on the transpose
    assert quantise.quantise_tensor(w.T, 2, dim=1) == pytest.approx(q.T)
    assert quantise.quantise_tensor(torch.ones(2, 3), 4, 0).equal(torch.ones(2, 3))
    with pytest.raises(CourseError, match="bits"):
        quantise.quantise_tensor(w, 0, 0)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantises_at_least_99_percent_of_block_weights_within_the_error(model, bits):
    names = quantise.block_weights(model)
    assert len(names) == 3 * 4  # c_attn, attn.c_proj, c_fc, mlp.c_proj per block
    assert {quantise.channel_dim(m) for n, m in model.named_modules()
            if type(m).__name__ == "Conv1D"} == {1}
    quantised = quantise.quantise_model(model, bits)
    report = quantise.quantisation_report(model, quantised, bits)
    assert report["changed"] >= 0.99 and report["on_grid"] >= 0.99
    assert report["max_error_half_steps"] <= 1.0 + 1e-3
    # per output channel (Conv1D column): at most 2^k values
    w = quantised.transformer.h[0].mlp.c_fc.weight
    assert max(len(torch.unique(w[:, c])) for c in range(w.shape[1])) <= 2 ** bits
    # everything outside the blocks' matrices, and the original, are untouched
    before, after = model.state_dict(), quantised.state_dict()
    for name in before:
        if name not in names:
            assert torch.equal(before[name], after[name]), name
    assert not torch.equal(model.transformer.h[0].mlp.c_fc.weight, w)


def test_four_bits_errs_more_than_eight(model):
    def error(bits):
        q = quantise.quantise_model(model, bits).transformer.h[1].attn.c_attn.weight
        return (q - model.transformer.h[1].attn.c_attn.weight).abs().mean().item()
    assert 0 < error(8) < error(4) / 8


def test_a_model_without_blocks_is_refused():
    with pytest.raises(CourseError, match="GPT-2"):
        quantise.block_weights(torch.nn.Linear(3, 3))
