"""Batched vs one-at-a-time generation and scoring of the same items with the same model.

    .venv/bin/python bench/eval_speed.py [--items 64] [--batch-size 32]

Uses a saved baseline under runs/ when there is one (a trained model stops at its
end-of-text token, as in the course), else a random-init tiny-gpt2 (which always
runs to max_new_tokens: the worst case for batching, every sequence full length).
Prints both times, items/s, the ratio, and whether the outputs are identical, and
writes bench/eval_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from companion import data  # noqa: E402
from companion.config import (  # noqa: E402
    RUNS_DIR, load_profile, set_seed, with_overrides)
from companion.evaluate import limit_items, score_items  # noqa: E402
from companion.models import load_model  # noqa: E402

OUT = Path(__file__).with_suffix(".json")


def pick_model() -> tuple[str, object, object]:
    """A saved baseline of the offline run when one exists, else random tiny-gpt2."""
    saved = sorted(RUNS_DIR.glob("*/tiny-gpt2/baseline/config.json"))
    source = str(saved[0].parent) if saved else "tiny-gpt2"
    set_seed(0)
    model, tokenizer = load_model(source, device="cpu")
    return (source if saved else "tiny-gpt2 (random init, seed 0)"), model, tokenizer


def timed(model, tokenizer, items, config) -> tuple[float, list[dict]]:
    """Seconds to generate and score every item, and the records."""
    start = time.perf_counter()
    records = score_items(model, tokenizer, items, config, progress=False)
    return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64,
                        help="items of forget_train + retain_train")
    parser.add_argument("--batch-size", type=int, default=None, help="default: offline's")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: offline's")
    args = parser.parse_args()

    profile = load_profile("offline", verbose=False)
    config = with_overrides(profile.eval, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens, max_items=args.items)
    bench = data.load_benchmark("bundled")
    items = limit_items(list(bench["forget_train"]) + list(bench["retain_train"]),
                        args.items)
    name, model, tokenizer = pick_model()
    print(f"model {name}; {len(items)} items; max_new_tokens {config.max_new_tokens}; "
          f"batch {config.batch_size}; {torch.get_num_threads()} threads")

    timed(model, tokenizer, items[:2], config)  # warm-up: first calls pay one-off costs
    batched_s, batched = timed(model, tokenizer, items, config)
    one = with_overrides(config, batch_size=1)
    single_s, single = timed(model, tokenizer, items, one)
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
        "batched_s": round(batched_s, 3), "single_s": round(single_s, 3),
        "batched_items_per_s": round(n / batched_s, 2),
        "single_items_per_s": round(n / single_s, 2),
        "speedup": round(ratio, 2), "identical_outputs": same,
        "mean_score": round(sum(r["score"] for r in batched) / n, 4),
    }, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
