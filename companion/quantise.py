"""Weight quantisation: does forgotten data come back at 8 or 4 bits?

Zhang et al. 2024 ("Catastrophic failure of LLM unlearning via quantization",
arXiv 2410.16454) found that unlearning by small weight changes can be undone by
rounding the weights: the unlearned and the original model round to nearby grids.

Why our own quantiser: GPT-2's blocks keep their weights in transformers'
`Conv1D` (weight shape (in, out)), not `torch.nn.Linear`. On CPU,
`torch.ao.quantization.quantize_dynamic(model, {nn.Linear})` converts only the LM
head and leaves every Conv1D as it was (checked with torch 2.13 and
transformers 5.24; that API is also deprecated), and optimum-quanto's documented
quantisable modules are Linear, Conv2d and LayerNorm (transformers' QuantoConfig
needs torch.nn.Linear layers), not Conv1D. So this module does
plain per-channel round-to-nearest (RTN) weight-only quantisation, the baseline
of the quantisation literature (e.g. GPTQ, Frantar et al. 2023, Sec. 2): each
output channel's weights are mapped to 2^k evenly spaced levels between that
channel's min and max, then de-quantised back to float so the model runs as is.
"""

from __future__ import annotations

import copy
import re

import pandas as pd
import torch

from .config import CourseError

BLOCK_WEIGHT = re.compile(r"\.(?:h|layers?|blocks)\.\d+\..*weight$")  # in a block


def quantise_tensor(weight: torch.Tensor, bits: int, dim: int) -> torch.Tensor:
    """Round-to-nearest k-bit copy of `weight`, one scale per slice along `dim`.

    dim: the axis of output channels (0 for nn.Linear's (out, in), 1 for Conv1D's
    (in, out)). Each channel c gets scale s_c = (max_c - min_c) / (2^k - 1) and
    levels min_c + s_c * {0, ..., 2^k - 1}: at most 2^k values per channel and
    |error| <= s_c / 2. A constant channel is returned unchanged.
    """
    if not 1 <= bits <= 16:
        raise CourseError(f"bits={bits}: choose a width from 1 to 16 (8 and 4 are usual)")
    w = weight.detach().float().movedim(dim, 0)  # (channels, ...)
    flat = w.reshape(w.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    scale = (flat.max(dim=1, keepdim=True).values - low) / (2 ** bits - 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant rows
    levels = torch.round((flat - low) / scale).clamp(0, 2 ** bits - 1)
    out = (levels * scale + low).reshape(w.shape).movedim(0, dim)
    return out.to(weight.dtype)


def channel_dim(module) -> int:
    """Axis of output channels of a module's weight: 1 for Conv1D, else 0."""
    return 1 if type(module).__name__ == "Conv1D" else 0


def block_weights(model) -> dict[str, tuple[torch.nn.Parameter, int]]:
    """{name: (weight, channel axis)} of the 2-D weights inside transformer blocks.

    These are the attention and MLP matrices (GPT-2: c_attn, c_proj, c_fc);
    embeddings, the LM head, biases and LayerNorms stay in float, as in the usual
    weight-only quantisation.
    """
    found = {}
    for module_name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        name = f"{module_name}.weight"
        if (isinstance(weight, torch.nn.Parameter) and weight.dim() == 2
                and BLOCK_WEIGHT.search(name)):
            found[name] = (weight, channel_dim(module))
    if not found:
        raise CourseError("no 2-D weights inside transformer blocks (.h.<i>.): "
                          "is this a GPT-2-style model?")
    return found


def quantise_model(model, bits: int):
    """A copy of `model` whose block weights are RTN k-bit quantised (see the top)."""
    quantised = copy.deepcopy(model)
    with torch.no_grad():
        for weight, dim in block_weights(quantised).values():
            weight.copy_(quantise_tensor(weight, bits, dim))
    return quantised


def quantisation_report(original, quantised, bits: int) -> dict:
    """How much of the blocks was quantised: shares changed and on the 2^k grid.

    Returns the number of block weight tensors, the share that changed, the share
    with at most 2^k distinct values in every channel, and the largest error as a
    multiple of its channel's half-step (<= 1 up to float rounding).
    """
    before, after = block_weights(original), block_weights(quantised)
    changed = on_grid = 0
    worst = 0.0
    for name, (w, dim) in before.items():
        q = after[name][0].detach().movedim(dim, 0).reshape(w.shape[dim], -1)
        w = w.detach().movedim(dim, 0).reshape(q.shape)
        changed += int(not torch.equal(w, q))
        on_grid += int(max(len(torch.unique(row)) for row in q) <= 2 ** bits)
        half_step = (w.max(1).values - w.min(1).values) / (2 ** bits - 1) / 2
        error = ((w - q).abs().max(1).values / half_step.clamp(min=1e-12)).max()
        worst = max(worst, float(error))
    n = len(before)
    return {"tensors": n, "changed": changed / n, "on_grid": on_grid / n,
            "max_error_half_steps": worst}


def quantised_scores(model, tokenizer, benchmark, bits_list, eval_config) -> pd.DataFrame:
    """Forget and retain regurgitation and MIA AUC at full precision and each width.

    One row per width ("float" first): bits, forget_regurgitation and
    retain_regurgitation (ROUGE-L recall of sc items), mia_auc (official LOSS
    attack, forget_train vs forget_validation), and the share of block weight
    tensors quantised (`changed`).
    """
    from .evaluate import forget_regurgitation
    from .membership import membership

    rows = []
    for bits in [None, *bits_list]:
        net = model if bits is None else quantise_model(model, bits)
        row = {"bits": "float" if bits is None else bits}
        for split in ("forget", "retain"):
            row[f"{split}_regurgitation"] = forget_regurgitation(
                net, tokenizer, benchmark[f"{split}_train"], eval_config)
        row["mia_auc"] = membership(net, tokenizer, benchmark,
                                    eval_config.batch_size)[0]["auc"]
        row["changed"] = 0.0 if bits is None else quantisation_report(
            model, net, bits)["changed"]
        rows.append(row)
    return pd.DataFrame(rows)
