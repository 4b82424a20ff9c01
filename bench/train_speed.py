"""Training throughput: the companion loop vs transformers' Trainer, side by side.

    .venv/bin/python bench/train_speed.py [--quick] [--repeats 5] [--out FILE]

Both train the same model (a copy of one seeded initialisation) on the same
tokenized rows, at the same batch size, sequence length and learning rate, with
torch's fused AdamW in both (Trainer's default optimiser, and the companion loop's
on CPU and CUDA), gradient clipping at 1.0, a constant schedule, fp32, the same
number of threads, no evaluation, no saving, no progress bar. Rows are the course's
baseline texts packed into blocks of exactly `seq_len` tokens, so every batch holds
batch x seq_len real tokens. The clock runs from the end of the last warm-up step
to the end of the last step (the companion loop's guard and a Trainer callback
take the times). Runs alternate A-B, B-A, ... in one process; the ratio is the
median of the per-repeat ratios.

MFU: model FLOPs per token = 6 N (N = all parameters, the tied LM head counted
once) + 12 L T d (attention scores and mixing, PaLM's formula), against the best
fp32 torch.matmul throughput of large square matrices measured in the same run.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from common import BENCH_DIR, median, write_result

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import (GPT2Config, GPT2LMHeadModel, Trainer,  # noqa: E402
                          TrainerCallback, TrainingArguments)
from transformers.utils import logging as hf_logging  # noqa: E402

from companion.config import TrainConfig  # noqa: E402
from companion.runtime import set_seed  # noqa: E402
from companion.data import load_benchmark  # noqa: E402
from companion.models import build_preset, course_tokenizer, param_count  # noqa: E402
from companion.pipeline import baseline_texts  # noqa: E402
from companion.textloss import collate, encode  # noqa: E402
from companion.train import (language_model_loss, stop_on_nonfinite,  # noqa: E402
                             train_loop)

OUT = BENCH_DIR / "train_speed.json"
hf_logging.set_verbosity_error()  # Trainer's set-up notices are not results


# ---------------------------------------------------------------- data and models


def packed_rows(tokenizer, seq_len: int, n_rows: int) -> list[list[int]]:
    """The course's baseline texts (EOS after each) packed into n_rows x seq_len ids."""
    texts = baseline_texts(load_benchmark("bundled"), "tiny-gpt2")
    stream = [t for row in encode(tokenizer, texts, 10_000) for t in row]
    if len(stream) < n_rows * seq_len:
        stream = stream * (n_rows * seq_len // len(stream) + 1)
    return [stream[i * seq_len:(i + 1) * seq_len] for i in range(n_rows)]


def make_model(name: str, tokenizer):
    """A seeded fresh model: a course preset, or GPT-2 small's architecture (124 M)."""
    set_seed(0)
    if name == "gpt2-small":
        return GPT2LMHeadModel(GPT2Config())  # the defaults are GPT-2 small
    return build_preset(name, tokenizer)


def model_flops_per_token(model, seq_len: int) -> dict:
    """6 N and 6 N + 12 L T d FLOPs per trained token (forward + backward)."""
    n, c = param_count(model), model.config
    return {"params": n, "six_n": 6 * n,
            "six_n_plus_attention": 6 * n + 12 * c.n_layer * seq_len * c.n_embd}


# ---------------------------------------------------------------- the two trainers


def run_companion(model, rows, config: TrainConfig, warmup: int, pad_id: int) -> float:
    """Seconds of the steps after `warmup`, in companion.train.train_loop."""
    stamps = {}

    def timing_guard(step, record):  # the loop asks its guard after every step
        stamps[step] = time.perf_counter()
        return stop_on_nonfinite(step, record)

    def batches():  # the rows in order, forever, collated as the course collates
        while True:
            for i in range(0, len(rows) - config.batch_size + 1, config.batch_size):
                yield collate(rows[i:i + config.batch_size], pad_id)

    set_seed(0)
    train_loop(model, language_model_loss, batches(), config, guard=timing_guard,
               progress=False)
    return stamps[config.steps] - stamps[warmup]


class StepTimes(TrainerCallback):
    """Records the time at the end of every optimiser step."""

    def __init__(self):
        self.stamps = {}

    def on_step_end(self, args, state, control, **kwargs):
        self.stamps[state.global_step] = time.perf_counter()


def run_trainer(model, rows, config: TrainConfig, warmup: int, pad_id: int,
                optim: str = "adamw_torch_fused") -> float:
    """Seconds of the steps after `warmup` in transformers' Trainer, set up alike."""
    timer = StepTimes()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=config.steps, learning_rate=config.lr,
            per_device_train_batch_size=config.batch_size, weight_decay=0.0,
            max_grad_norm=config.clip_norm, lr_scheduler_type="constant",
            optim=optim, eval_strategy="no", save_strategy="no", report_to="none",
            disable_tqdm=True, use_cpu=True, seed=0, dataloader_pin_memory=False)
        trainer = Trainer(model=model, args=args, callbacks=[timer],
                          train_dataset=Dataset.from_dict({"input_ids": rows}),
                          data_collator=lambda feats: collate(
                              [f["input_ids"] for f in feats], pad_id))
        trainer.train()
    return timer.stamps[config.steps] - timer.stamps[warmup]


def side_by_side(name: str, tokenizer, rows, config: TrainConfig, warmup: int,
                 repeats: int) -> dict:
    """Alternate companion and Trainer runs from the same weights; medians and ratio."""
    initial = make_model(name, tokenizer)
    measured = config.steps - warmup
    tokens = measured * config.batch_size * len(rows[0])
    runs = {"companion": [], "trainer": []}
    for r in range(repeats):
        order = ("companion", "trainer") if r % 2 == 0 else ("trainer", "companion")
        for who in order:
            run = run_companion if who == "companion" else run_trainer
            model = copy.deepcopy(initial)
            seconds = run(model, rows, config, warmup, tokenizer.pad_token_id)
            runs[who].append(seconds)
            print(f"  {name} repeat {r + 1}/{repeats} {who:9s}: "
                  f"{seconds / measured:.4f} s/step, {tokens / seconds:9.1f} tokens/s")
            del model
    ratios = [t / c for c, t in zip(runs["companion"], runs["trainer"])]
    flops = model_flops_per_token(initial, len(rows[0]))
    companion_tps = tokens / median(runs["companion"])
    return {"model": name, "params": flops["params"], "batch_size": config.batch_size,
            "seq_len": len(rows[0]), "warmup_steps": warmup, "measured_steps": measured,
            "repeats": repeats, "lr": config.lr, "seconds": runs,
            "companion_tokens_per_s": round(companion_tps, 1),
            "trainer_tokens_per_s": round(tokens / median(runs["trainer"]), 1),
            "companion_s_per_step": round(median(runs["companion"]) / measured, 4),
            "trainer_s_per_step": round(median(runs["trainer"]) / measured, 4),
            "ratio_per_repeat": [round(x, 3) for x in ratios],
            "ratio": round(median(ratios), 3), "flops_per_token": flops,
            "model_flops_per_s": round(companion_tps * flops["six_n_plus_attention"])}


# ---------------------------------------------------------------- peak and MFU


def matmul_peak(n: int, repeats: int) -> float:
    """Best fp32 FLOP/s of torch.matmul of two n x n matrices over `repeats` tries."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def mfu(result: dict, peak: float) -> dict:
    """Model-FLOPs utilisation of the companion loop under both FLOP formulas."""
    tps, flops = result["companion_tokens_per_s"], result["flops_per_token"]
    return {"mfu_6n": round(tps * flops["six_n"] / peak, 4),
            "mfu_6n_attention": round(tps * flops["six_n_plus_attention"] / peak, 4)}


# ---------------------------------------------------------------- main


def settings(quick: bool, repeats: int | None) -> list[tuple]:
    """(model, config, warm-up steps, repeats) per model; --quick: seconds long."""
    if quick:
        return [("tiny-gpt2", TrainConfig(steps=4, batch_size=4, lr=1e-3,
                                          max_length=32, log_every=1000), 1, 1)]
    return [("tiny-gpt2", TrainConfig(steps=25, batch_size=16, lr=1e-3,
                                      max_length=128, log_every=1000), 5, repeats or 5),
            # ~6.5 s/step alone on one thread, ~50 s/step at load 12: few steps
            ("gpt2-small", TrainConfig(steps=6, batch_size=4, lr=5e-5, max_length=128,
                                       log_every=1000), 1, repeats or 5)]


def main(argv: list[str] | None = None) -> dict:
    """Measure, print and write bench/train_speed.json (or --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, seconds")
    parser.add_argument("--repeats", type=int, default=None, help="A/B pairs per model")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both (1: see the module doc)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--models", nargs="+", default=None,
                        help="only these of tiny-gpt2, gpt2-small (default: both)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    tokenizer = course_tokenizer()
    results = []
    for name, config, warmup, repeats in settings(args.quick, args.repeats):
        if args.models and name not in args.models:
            continue
        n_rows = config.steps * config.batch_size
        rows = packed_rows(tokenizer, config.max_length, n_rows)
        print(f"{name}: batch {config.batch_size} x {config.max_length} tokens, "
              f"{config.steps - warmup} steps after {warmup} warm-up, {repeats} "
              f"repeats, "
              f"{torch.get_num_threads()} threads")
        results.append(side_by_side(name, tokenizer, rows, config, warmup, repeats))
    size, tries = (256, 2) if args.quick else (4096, 7)
    peak = matmul_peak(size, tries)
    print(f"fp32 matmul peak ({size} x {size}, best of {tries}): "
          f"{peak / 1e9:.1f} GFLOP/s")
    for result in results:
        result.update(mfu(result, peak))
        print(f"{result['model']:>10}: companion "
              f"{result['companion_tokens_per_s']:9.1f} "
              f"tokens/s, Trainer {result['trainer_tokens_per_s']:9.1f} tokens/s, "
              f"ratio {result['ratio']:.3f} (target >= 1.0); "
              f"MFU {result['mfu_6n']:.1%} "
              f"(6N), {result['mfu_6n_attention']:.1%} (6N + 12LTd)")
    return write_result(args.out, "train_speed.py", argv, {
        "quick": args.quick, "matmul_peak_flops": round(peak),
        "matmul_size": size, "flops_formula": "6 N + 12 L T d per token (and 6 N)",
        "results": results})


if __name__ == "__main__":
    main()
