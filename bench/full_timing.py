"""A timing model of the GPU profiles (`full`, `workshop`): work per stage, per notebook.

    .venv/bin/python bench/full_timing.py [--data ../shared/semeval25] [--out FILE]

No GPU was available to measure the `full` profile, so its run times are estimated,
not guessed: the work of each stage is counted from the profile's own settings
(steps, batch, accumulation, checks, documents, seeds, new tokens) and the data's
text lengths, then divided by an *assumed* throughput per GPU, written below.
Change an assumption and the table follows. Tokens are estimated as characters / 4
(GPT-2's BPE on English); padding is not counted; every generation runs the full
`max_new_tokens` (an upper bound: memorised answers end earlier).

Training FLOPs per token: 6 N + 12 L T d (forward + backward, PaLM's formula,
Chowdhery et al. 2022, appendix B); forward only (guard losses, MIA, prompts): a
third of that. Generation is bound by per-step overhead and memory, not FLOPs, so
it gets its own throughput. `workshop` is `full` cut for a 20-minute slot
(companion.config._workshop); LIMIT checks every notebook of it against that.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

from common import BENCH_DIR, PROJECT_ROOT, write_result

from companion.config import load_profile  # noqa: E402
from companion.data import is_sc, load_benchmark, training_texts  # noqa: E402
from companion.guard import CHECK_TEXTS  # noqa: E402
from companion.stages import BASELINE_METHODS  # noqa: E402

OUT = BENCH_DIR / "full_timing.json"
CHARS_PER_TOKEN = 4.0  # GPT-2's BPE on English prose
MODELS = {"gpt2": (124_439_808, 12, 768), "distilgpt2": (81_912_576, 6, 768)}  # N, L, d
PROFILES = ("full", "workshop")
LIMIT = 20.0  # minutes: a workshop slot; the workshop profile fits each notebook in it
RELEARN_CURVES = 10  # notebook 07: up to 5 models x 2 sources (forget, retain)


@dataclass(frozen=True)
class Gpu:
    """Assumed throughput of one GPU on GPT-2-small shapes (not measured here)."""

    name: str
    train_flops: float  # achieved FLOP/s in training (mixed precision, small batches)
    generate_tokens: float  # new tokens per second, greedy, batch of 32 prompts


GPUS = (Gpu("T4 (fp16, loss scaling)", 8e12, 1_600),  # ~12 % of 65 TFLOP/s peak
        Gpu("A100 (bf16)", 50e12, 2_700))  # ~16 % of 312 TFLOP/s peak


def mean_tokens(texts, limit: int) -> float:
    return statistics.mean(min(len(t) / CHARS_PER_TOKEN + 1, limit) for t in texts)


def stage_work(profile, benchmark, model: str = "gpt2") -> dict:
    """{stage: (training FLOPs, forward FLOPs, generated tokens)} of one run of it.

    baseline / oracle (the same recipe and steps), stabilise, unlearn (with its
    guard's checks; unlearn+ adds a retain or reference pass), trajectory (notebook
    03's scored ascent), eval (the official evaluation of one stage), probe
    (regurgitation of one split's sentence-completion items), relearn (one
    relearning curve of notebook 07), overshoot (07's collapsed model).
    """
    n, layers, width = MODELS[model]
    p, ev = profile, profile.eval
    splits = [benchmark[s] for s in ("forget_train", "retain_train")]
    items = sum(len(s) for s in splits)
    sc_items = statistics.mean(sum(map(is_sc, s["id"])) for s in splits)
    every = mean_tokens(training_texts(splits[0]) + training_texts(splits[1]), 512)
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
    work["oracle"] = work["baseline"]  # the baseline's recipe without the forget set
    work["unlearn"] = (work["unlearn"][0], *guard)
    work["unlearn+"] = (2 * work["unlearn"][0], *guard)  # a retain or reference pass
    work["trajectory"] = (work["unlearn"][0], guard[0], 2 * guard[1])  # forget + retain
    work["eval"] = (0.0, 2 * items * every * forward, items * ev.max_new_tokens)
    work["probe"] = (0.0, 0.0, sc_items * ev.max_new_tokens)
    relearn = p.attack.relearn
    measures = relearn.steps // p.attack.measure_every + 1  # on half the forget docs
    work["relearn"] = (relearn.steps * relearn.batch_size * every * train,
                       measures * items / 2 * every * forward,
                       measures * p.attack.relearn_fraction * sc_items * ev.max_new_tokens)
    work["overshoot"] = (p.attack.overshoot * work["unlearn"][0], 0.0,
                         6 * 2 * p.attack.prompts * ev.max_new_tokens)  # + collapse report
    return work


def notebook_parts(profile) -> tuple[dict, dict]:
    """({notebook: [(stage, count, model)]}, {notebook: what a fresh runtime rebuilds}).

    What each notebook builds, read from the notebooks: 02 stabilises and trains the
    oracle; 03 ascends five times (the stage and four trainable choices); 04 scores
    every method, the oracle, two stop rules and two controls; 05 every seed of both sizes with their oracles (seed 0
    of the main model is 01-04's); 07 attacks (quantisation of 3 models at 3
    widths, relearning curves, an overshoot model; the reference attack loads the
    small model's oracle, built by 05 or, in a fresh runtime, by 07).
    """
    seeds, big, small = len(profile.seeds), "gpt2", "distilgpt2"
    plus = len(BASELINE_METHODS) - 1  # gradient difference, KL, NPO carry a second pass
    one_seed = [("baseline", 1), ("oracle", 1), ("stabilise", 1), ("unlearn", 1),
                ("eval", 3)]
    methods = [("unlearn", 1), ("unlearn+", plus), ("eval", 1 + plus)]
    parts = {
        "00": [],
        "01": [("baseline", 1), ("probe", 4)],
        "02": [("stabilise", 1), ("oracle", 1), ("probe", 6)],
        "03": [("trajectory", 1), ("unlearn", 5), ("probe", 6)],
        "04": [("eval", 2), ("eval", 2), *methods,
               ("unlearn", 4), ("eval", 4)],  # + stop rules and controls
        "05": [(s, k * (seeds - 1)) for s, k in one_seed]
        + [(s, k * seeds, small) for s, k in one_seed],
        "06": [("stabilise", 3), ("unlearn", 3), ("eval", 3)],
        "07": [("probe", 18), ("relearn", RELEARN_CURVES), ("overshoot", 1)],
    }
    needs = {"02": [("baseline", 1)], "03": [("baseline", 1), ("stabilise", 1)],
             "04": [("baseline", 1), ("stabilise", 1), ("oracle", 1), ("unlearn", 1)],
             "05": one_seed, "06": [("baseline", 1), ("eval", 1)],
             # the reference attack's reference: the small model's oracle (05's)
             "07": [*one_seed, *methods, ("oracle", 1, small)]}

    def triples(table):
        return {name: [(s, k, *(rest or [big])) for s, k, *rest in rows]
                for name, rows in table.items()}
    return triples(parts), triples(needs)


def seconds(work: tuple, gpu: Gpu) -> float:
    trained, forward, generated = work
    return (trained + forward) / gpu.train_flops + generated / gpu.generate_tokens


def notebook_minutes(profile, benchmark, gpu: Gpu, fresh: bool) -> dict:
    """Minutes per notebook; fresh: its earlier stages are rebuilt (no saved runs)."""
    work = {model: stage_work(profile, benchmark, model) for model in MODELS}
    parts, needs = notebook_parts(profile)
    table = {}
    for name, rows in parts.items():
        rows = rows + (needs.get(name, []) if fresh else [])
        total = sum(k * seconds(work[model][stage], gpu) for stage, k, model in rows)
        table[name] = round(total / 60, 1)
    return table


def estimate(name: str, data: str) -> dict:
    """The work per stage and the minutes per notebook and GPU of one profile."""
    profile = load_profile(name, verbose=False, model="gpt2", data=data)
    docs = load_benchmark(data, profile.max_docs_per_task)
    work = stage_work(profile, docs)
    minutes = {g.name: {"with saved stages": notebook_minutes(profile, docs, g, False),
                        "fresh runtime": notebook_minutes(profile, docs, g, True)}
               for g in GPUS}
    return {"settings": {"max_docs_per_task": profile.max_docs_per_task,
                         "seeds": list(profile.seeds),
                         "items": {s: len(docs[s]) for s in docs},
                         "steps": {"baseline": profile.finetune.steps,
                                   "stabilise": profile.stabilise.steps,
                                   "unlearn": profile.unlearn.steps},
                         "max_new_tokens": profile.eval.max_new_tokens},
            "stages": {s: {"train_tflop": round(w[0] / 1e12, 1),
                           "forward_tflop": round(w[1] / 1e12, 1),
                           "generated_tokens": int(w[2])} for s, w in work.items()},
            "minutes": minutes}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/semeval25")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    folder = PROJECT_ROOT / args.data
    data = str(folder) if folder.is_dir() else "bundled"
    record = {"data": args.data if folder.is_dir() else "bundled",
              "assumptions": {g.name: {"train_flops": g.train_flops,
                                       "generate_tokens_per_s": g.generate_tokens}
                              for g in GPUS},
              "limit_minutes": LIMIT,
              "profiles": {name: estimate(name, data) for name in PROFILES}}
    for name, result in record["profiles"].items():
        for gpu, table in result["minutes"].items():
            print(f"{name:>8} {gpu}: saved {table['with saved stages']}")
            print(f"{'':>8} {'':>{len(gpu)}}  fresh {table['fresh runtime']}")
    write_result(args.out, "full_timing.py", argv, record)
    return record


if __name__ == "__main__":
    main()
