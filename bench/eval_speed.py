"""Batched vs one-at-a-time generation and scoring of the same items with the same model.

    .venv/bin/python bench/eval_speed.py [--model trained|random] [--items N]
                                         [--batch-size 32] [--repeats 3]

--model trained (the default) is the offline profile's baseline, the model the
course evaluates: built once with `ensure_stage` (about 2 minutes) when runs/ has
none, then loaded, so the benchmark always measures the same model. A trained model
stops at its end-of-text token, so a batch keeps decoding until its longest row is
done. --model random is a random-init tiny-gpt2 that never emits EOS (every row runs
to max_new_tokens: the best case for batching). The items default to every
forget_train and retain_train item, what one evaluation generates. Each mode runs
`--repeats` times, interleaved; the medians are compared. Prints both times, the
ratio and whether the outputs are identical, and writes bench/eval_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from companion import data  # noqa: E402
from companion.config import load_profile, with_overrides  # noqa: E402
from companion.evaluate import limit_items, score_items  # noqa: E402
from companion.models import load_model  # noqa: E402
from companion.pipeline import ensure_stage  # noqa: E402
from companion.runtime import set_seed  # noqa: E402

OUT = Path(__file__).with_suffix(".json")


def pick_model(kind: str) -> tuple[str, object, object]:
    """("trained": the offline baseline, built if missing) or ("random": seed 0 init)."""
    set_seed(0)
    if kind == "random":
        model, tokenizer = load_model("tiny-gpt2", device="cpu")
        return "tiny-gpt2 (random init, seed 0)", model, tokenizer
    model, tokenizer = ensure_stage("offline", "baseline", device="cpu", progress=False)
    return "offline baseline (tiny-gpt2, seed 0)", model, tokenizer


def timed(model, tokenizer, items, config) -> tuple[float, list[dict]]:
    """Seconds to generate and score every item, and the records."""
    start = time.perf_counter()
    records = score_items(model, tokenizer, items, config, progress=False)
    return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("trained", "random"), default="trained")
    parser.add_argument("--items", type=int, default=None,
                        help="items of forget_train + retain_train (default: all)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: offline's")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: offline's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    profile = load_profile("offline", verbose=False)
    config = with_overrides(profile.eval, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens)
    bench = data.load_benchmark("bundled")
    items = limit_items(list(bench["forget_train"]) + list(bench["retain_train"]),
                        args.items)
    name, model, tokenizer = pick_model(args.model)
    print(f"model {name}; {len(items)} items; max_new_tokens {config.max_new_tokens}; "
          f"batch {config.batch_size}; {torch.get_num_threads()} threads")

    timed(model, tokenizer, items[:2], config)  # warm-up: first calls pay one-off costs
    one = with_overrides(config, batch_size=1)
    runs = {"batched": [], "single": []}
    for _ in range(args.repeats):  # interleaved, so a busy spell hits both alike
        for mode, setting in (("batched", config), ("single", one)):
            runs[mode].append(timed(model, tokenizer, items, setting))
    batched_s = statistics.median(t for t, _ in runs["batched"])
    single_s = statistics.median(t for t, _ in runs["single"])
    batched, single = runs["batched"][0][1], runs["single"][0][1]
    same = [b["generation"] for b in batched] == [s["generation"] for s in single]
    ratio = single_s / batched_s
    n = len(items)
    print(f"batched      : {batched_s:7.2f} s  {n / batched_s:7.1f} items/s")
    print(f"one at a time: {single_s:7.2f} s  {n / single_s:7.1f} items/s")
    print(f"speed-up {ratio:.1f}x (target >= 4x); identical outputs: {same}")

    OUT.write_text(json.dumps({
        "command": " ".join(["python bench/eval_speed.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(), "threads": torch.get_num_threads(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # shared machine
        "torch": torch.__version__, "model": name, "items": n,
        "max_new_tokens": config.max_new_tokens, "batch_size": config.batch_size,
        "repeats": args.repeats,
        "batched_s": round(batched_s, 3), "single_s": round(single_s, 3),
        "batched_runs_s": [round(t, 3) for t, _ in runs["batched"]],
        "single_runs_s": [round(t, 3) for t, _ in runs["single"]],
        "batched_items_per_s": round(n / batched_s, 2),
        "single_items_per_s": round(n / single_s, 2),
        "speedup": round(ratio, 2), "identical_outputs": same,
        "mean_score": round(sum(r["score"] for r in batched) / n, 4),
    }, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
