"""The offline baseline's training step with two GELU kernels, side by side.

    .venv/bin/python bench/step_speed.py [--steps 30] [--repeats 3] [--quick]

Most of `make course` is training steps of the tiny presets on a CPU, so a step's
cost sets the course's length. The presets' MLPs use GPT-2's tanh-approximated GELU
as torch's one fused kernel (`gelu_pytorch_tanh`); GPT-2's own config names
transformers' `gelu_new`, the same formula written as five elementwise operations.

Both setups train copies of one seeded tiny-gpt2 on the offline baseline's texts
(`pipeline.baseline_texts` of the bundled benchmark) with the profile's batch size
and sequence length, fused AdamW, every core; the clock runs from the end of the
third warm-up step. Setups alternate A-B, B-A, ... in one process; the ratio is the
median of the per-repeat ratios. Writes bench/step_speed.json.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from common import BENCH_DIR, median, write_result

import torch  # noqa: E402
from transformers.activations import ACT2FN  # noqa: E402

import companion.train as train  # noqa: E402
from companion.config import load_profile  # noqa: E402
from companion.data import load_benchmark  # noqa: E402
from companion.models import load_model  # noqa: E402
from companion.pipeline import baseline_texts  # noqa: E402
from companion.runtime import set_seed  # noqa: E402

OUT = BENCH_DIR / "step_speed.json"
WARMUP = 3


def with_gelu_new(model):
    """A copy of `model` whose MLPs use transformers' unfused `gelu_new`."""
    model = copy.deepcopy(model)
    model.config.activation_function = "gelu_new"
    for block in model.transformer.h:
        block.mlp.act = ACT2FN["gelu_new"]
    return model


def timed(model, tokenizer, texts, config, steps: int) -> float:
    """Seconds per optimiser step over `steps` steps, after WARMUP more."""
    batches = train.make_batches(tokenizer, texts, config.batch_size, config.max_length,
                                 seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), config.lr, fused=True)
    model.train()
    for step in range(steps + WARMUP):
        if step == WARMUP:
            start = time.perf_counter()
        loss, _ = train.language_model_loss(model, next(batches))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be at least 1")
    steps, repeats = (3, 1) if args.quick else (args.steps, args.repeats)
    profile = load_profile("offline", verbose=False)
    config = profile.finetune
    set_seed(0)
    model, tokenizer = load_model(profile.model, device="cpu")
    texts = baseline_texts(load_benchmark(profile.data), profile.model)
    setups = {"gelu_new (before)":
              lambda: timed(with_gelu_new(model), tokenizer, texts, config, steps),
              "gelu_pytorch_tanh (the presets now)":
              lambda: timed(copy.deepcopy(model), tokenizer, texts, config, steps)}
    names = list(setups)
    seconds = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            seconds[name].append(setups[name]())
    before, now = names
    ratio = median(b / n for b, n in zip(seconds[before], seconds[now]))
    for name in names:
        print(f"{name:>36}: {median(seconds[name]):.4f} s/step")
    print(f"{'speed-up':>36}: {ratio:.2f}x")
    return write_result(args.out, "step_speed.py", argv, {
        "quick": args.quick, "model": profile.model, "threads": torch.get_num_threads(),
        "batch_size": config.batch_size, "max_length": config.max_length,
        "steps": steps, "repeats": repeats,
        "setups": [{"setup": name, "seconds_per_step": round(median(seconds[name]), 4)}
                   for name in names],
        "speedup": round(ratio, 2), "raw_seconds": seconds})


if __name__ == "__main__":
    main()
