"""GPT-2-small training and generation throughput on one GPU, in three precisions.

    python bench/gpu_check.py [--seconds 30] [--out FILE]     on a GPU (~30 s)
    python bench/gpu_check.py --cpu-smoke                     tiny shapes, on a CPU

What the timing model of the GPU profiles (bench/full_timing.py) assumes instead of
measuring: a training step's throughput and peak memory at GPT-2-small shapes
(12 blocks x 768, 50,257-token vocabulary, randomly initialised: nothing is
downloaded), batch 8 x 512 tokens as the `full` profile trains, in fp32, bf16
autocast, and fp16 autocast with a GradScaler (the path a T4 takes), plus greedy
generation of a batch of 32 prompts. Needs only torch and transformers, so it runs
on a bare GPU machine without the course's other packages. Prints one JSON object.

Achieved TFLOP/s use the timing model's 6 N + 12 L T d FLOPs per trained token
(PaLM, Chowdhery et al. 2022, appendix B), N counting the tied embedding once.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

GPT2_SMALL = {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257,
              "n_positions": 1024}
SMOKE = {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 50257,
         "n_positions": 128}
MODES = ("fp32", "bf16", "fp16")


def build(shapes: dict, device: torch.device) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2 of `shapes` (fp32 weights) on `device`."""
    torch.manual_seed(0)
    config = GPT2Config(**shapes, bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(config).to(device)


def flops_per_token(model, seq: int) -> float:
    """6 N + 12 L T d: training FLOPs per token (forward + backward)."""
    n = sum(p.numel() for p in model.parameters())  # tied weights counted once
    c = model.config
    return 6 * n + 12 * c.n_layer * seq * c.n_embd


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _unsupported(mode: str, device: torch.device) -> str | None:
    """Why `mode` cannot run on `device`, or None."""
    if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(
            including_emulation=False):
        return "this GPU has no native bf16"
    return None


def train_mode(mode: str, shapes: dict, batch: int, seq: int, seconds: float,
               device: torch.device) -> dict:
    """Throughput (tokens/s), step time (ms), TFLOP/s and peak memory (GiB) of AdamW
    training steps in `mode`, timed for about `seconds` after two warm-up steps."""
    if (why := _unsupported(mode, device)) is not None:
        return {"skipped": why}
    model = build(shapes, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
    scaler = torch.amp.GradScaler(device.type) if mode == "fp16" else None
    ids = torch.randint(0, shapes["vocab_size"], (batch, seq), device=device)

    def step() -> float:
        autocast = (torch.autocast(device.type, dtype=dtype) if dtype is not None
                    else nullcontext())
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()  # also a synchronisation point

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        for _ in range(2):
            step()
        _sync(device)
        steps, start = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - start < seconds:
            loss = step()
            steps += 1
        elapsed = time.perf_counter() - start
    except RuntimeError as error:  # e.g. an autocast dtype this device lacks
        return {"skipped": str(error).splitlines()[0][:200]}
    tokens = steps * batch * seq / elapsed
    peak = (torch.cuda.max_memory_allocated(device) / 2**30
            if device.type == "cuda" else None)
    return {"tokens_per_s": round(tokens, 1), "step_ms": round(1000 * elapsed / steps, 2),
            "steps": steps, "tflops": round(tokens * flops_per_token(model, seq) / 1e12, 3),
            "peak_memory_gib": None if peak is None else round(peak, 2),
            "last_loss": round(loss, 4), "loss_finite": bool(torch.isfinite(
                torch.tensor(loss))),
            "scale": None if scaler is None else scaler.get_scale()}


def generate_mode(shapes: dict, prompts: int, prompt_len: int, new_tokens: int,
                  device: torch.device) -> dict:
    """New tokens per second of greedy generation, `prompts` at once (fp16 on CUDA,
    as the course evaluates; fp32 on CPU), every prompt generating `new_tokens`."""
    model = build(shapes, device).eval()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = model.to(dtype)
    ids = torch.randint(0, shapes["vocab_size"], (prompts, prompt_len), device=device)
    settings = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                    do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(ids, **{**settings, "max_new_tokens": 2, "min_new_tokens": 2})
        _sync(device)
        start = time.perf_counter()
        out = model.generate(ids, **settings)
        _sync(device)
    elapsed = time.perf_counter() - start
    made = (out.shape[1] - prompt_len) * prompts
    return {"new_tokens_per_s": round(made / elapsed, 1), "seconds": round(elapsed, 2),
            "prompts": prompts, "prompt_tokens": prompt_len, "new_tokens": new_tokens,
            "dtype": str(dtype).removeprefix("torch.")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="tiny shapes on the CPU, a few steps: checks the script")
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="timed seconds per precision (default 6: ~30 s in all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run with --cpu-smoke to check the script")
    device = torch.device("cpu" if smoke else "cuda")
    shapes, batch, seq = (SMOKE, 2, 64) if smoke else (GPT2_SMALL, 8, 512)
    seconds = 0.0 if smoke else args.seconds  # smoke: the two timed steps only
    start = time.perf_counter()
    record = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "cpu_smoke": smoke, "shapes": shapes, "batch": batch, "sequence": seq,
        "train": {mode: train_mode(mode, shapes, batch, seq, seconds, device)
                  for mode in MODES},
        "generate": generate_mode(shapes, 4 if smoke else 32, 16 if smoke else 128,
                                  4 if smoke else 128, device)}
    record["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(record)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return record


if __name__ == "__main__":
    main()
