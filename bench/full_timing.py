"""A timing model of the `full` profile: FLOPs and tokens per stage, per notebook.

    .venv/bin/python bench/full_timing.py [--data ../shared/semeval25] [--out FILE]

No GPU was available to measure the full profile, so its run times are estimated,
not guessed: the work of each stage is counted from the profile's own settings
(steps, batch, accumulation, checks, items, new tokens) and the data's text
lengths, then divided by an *assumed* throughput per GPU, written below. Change
an assumption and the table follows. Tokens are estimated as characters / 4 (GPT-2's
BPE on English); padding is not counted; every evaluation generates the full
`max_new_tokens` for every item (an upper bound: memorised answers end earlier).

Training FLOPs per token: 6 N + 12 L T d (forward + backward, PaLM's formula);
forward only (the guard's losses, MIA, prompts): a third of that. Generation is
bound by per-step overhead and memory, not FLOPs, so it gets its own throughput.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

from common import BENCH_DIR, PROJECT_ROOT, write_result

from companion.config import load_profile  # noqa: E402
from companion.data import load_benchmark, training_texts  # noqa: E402
from companion.guard import CHECK_TEXTS  # noqa: E402

OUT = BENCH_DIR / "full_timing.json"
CHARS_PER_TOKEN = 4.0  # GPT-2's BPE on English prose
MODELS = {"gpt2": (124_439_808, 12, 768), "distilgpt2": (81_912_576, 6, 768)}  # N, L, d


@dataclass(frozen=True)
class Gpu:
    """Assumed throughput of one GPU on GPT-2-small shapes (not measured here)."""

    name: str
    train_flops: float  # achieved FLOP/s in training (mixed precision, small batches)
    generate_tokens: float  # new tokens per second, greedy, batch of 32 prompts


GPUS = (Gpu("T4 (fp16, loss scaling)", 8e12, 1_600),  # ~12 % of 65 TFLOP/s peak
        Gpu("A100 (bf16)", 50e12, 2_700))  # ~16 % of 312 TFLOP/s peak

# what each notebook builds in the full profile: (stage, how many); "eval" is the
# official evaluation of one stage, "unlearn+" a method with a retain/reference term,
# "probe" the notebook's own regurgitation of one split (forget_regurgitation)
NOTEBOOKS = {
    "00": [],
    "01": [("baseline", 1), ("probe", 4)],
    "02": [("stabilise", 1), ("probe", 4)],
    "03": [("trajectory", 1), ("unlearn", 3), ("probe", 4)],
    "04": [("eval", 2), ("unlearn+", 3), ("unlearn", 1), ("eval", 4)],
    "05": [("baseline", 6), ("stabilise", 6), ("unlearn", 6), ("eval", 12)],
    "06": [("stabilise", 3), ("unlearn", 3), ("eval", 3)],
}
NEEDS = {"01": [], "02": ["baseline"], "03": ["baseline", "stabilise"],
         "04": ["baseline", "stabilise", "unlearn"], "05": [], "06": ["baseline"]}


def mean_tokens(texts, limit: int) -> float:
    return statistics.mean(min(len(t) / CHARS_PER_TOKEN + 1, limit) for t in texts)


def stage_work(profile, benchmark, model: str = "gpt2") -> dict:
    """{stage: (training FLOPs, forward FLOPs, generated tokens)} of one run of it."""
    n, layers, width = MODELS[model]
    p, ev = profile, profile.eval
    items = len(benchmark["forget_train"]) + len(benchmark["retain_train"])
    every = mean_tokens(training_texts(benchmark["forget_train"])
                        + training_texts(benchmark["retain_train"]), 512)
    train = 6 * n + 12 * layers * every * width  # FLOPs per trained token
    forward = train / 3
    checks = p.unlearn.steps // p.unlearn.check_every + 1
    guard = (checks * 2 * CHECK_TEXTS * every * forward,
             checks * 32 * ev.max_new_tokens)  # losses of 2 x 64 texts, 32 items
    base = p.finetune
    sequences = {"baseline": base.steps * base.batch_size * base.grad_accum,
                 "stabilise": p.stabilise.steps * p.stabilise.batch_size,
                 "unlearn": p.unlearn.steps * p.unlearn.batch_size}
    work = {stage: (count * every * train, 0.0, 0.0)
            for stage, count in sequences.items()}
    work["unlearn"] = (work["unlearn"][0], *guard)
    work["unlearn+"] = (2 * work["unlearn"][0], *guard)  # a retain or reference pass
    work["trajectory"] = (work["unlearn"][0], guard[0], 2 * guard[1])  # forget + retain
    work["eval"] = (0.0, 2 * items * every * forward, items * ev.max_new_tokens)
    work["probe"] = (0.0, 0.0, items / 2 * ev.max_new_tokens)
    return work


def seconds(work: tuple, gpu: Gpu) -> float:
    trained, forward, generated = work
    return (trained + forward) / gpu.train_flops + generated / gpu.generate_tokens


def notebook_minutes(work: dict, gpu: Gpu, fresh: bool) -> dict:
    """Minutes per notebook; fresh: its earlier stages are rebuilt (no saved runs)."""
    table = {}
    for name, parts in NOTEBOOKS.items():
        if fresh:
            parts = parts + [(stage, 1) for stage in NEEDS.get(name, [])]
        table[name] = round(sum(k * seconds(work[s], gpu) for s, k in parts) / 60, 1)
    return table


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/semeval25")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    folder = PROJECT_ROOT / args.data
    data = str(folder) if folder.is_dir() else "bundled"
    benchmark = load_benchmark(data)
    work = stage_work(load_profile("full", verbose=False), benchmark)
    record = {"data": args.data if folder.is_dir() else "bundled",
              "assumptions": {g.name: {"train_flops": g.train_flops,
                                       "generate_tokens_per_s": g.generate_tokens}
                              for g in GPUS},
              "stages": {s: {"train_tflop": round(w[0] / 1e12, 1),
                             "forward_tflop": round(w[1] / 1e12, 1),
                             "generated_tokens": int(w[2])} for s, w in work.items()},
              "minutes": {g.name: {"with saved stages": notebook_minutes(work, g, False),
                                   "fresh runtime": notebook_minutes(work, g, True)}
                          for g in GPUS}}  # noqa: E501
    for gpu in GPUS:
        print(gpu.name, record["minutes"][gpu.name])
    write_result(args.out, "full_timing.py", argv, record)
    return record


if __name__ == "__main__":
    main()
