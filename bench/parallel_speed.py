"""Two training runs side by side vs one on every core: why companion.parallel exists.

    .venv/bin/python bench/parallel_speed.py [--steps 20] [--repeats 3] [--quick]

Trains the tiny-gpt2 preset on random tokens (batch 32 x 64 tokens, about the
course's baseline batches) in fresh processes, measured alone on the machine:

- one run, as many torch threads as there are cores (how a notebook trains);
- one run, one thread;
- two runs at once, one thread each (companion.parallel's baseline beside oracle);
- two runs at once, one on every core and one on one thread (a build left in the
  background beside a notebook: more threads than cores).

Prints and records seconds per step of each and the throughput of the pair against
the single run on every core (steps per second, both runs counted): above 1, two
independent stages finish sooner side by side than one after the other. Writes
bench/parallel_speed.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from common import BENCH_DIR, PROJECT_ROOT, median, write_result

OUT = BENCH_DIR / "parallel_speed.json"
BATCH, TOKENS = 32, 64


def one_run(threads: int, steps: int) -> float:
    """In a helper process: seconds per optimiser step after 3 warm-up steps."""
    import time

    import torch

    from companion.models import load_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, tokenizer = load_model("tiny-gpt2", device="cpu")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(0, len(tokenizer), (BATCH, TOKENS))
    for step in range(steps + 3):
        if step == 3:
            start = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps


def launch(threads: int, steps: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, __file__, "--helper", str(threads),
                             str(steps)], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT, env=env)


def together(thread_counts: list[int], steps: int) -> list[float]:
    """Seconds per step of runs started at once, one process each."""
    runs = [launch(t, steps) for t in thread_counts]
    return [float(run.communicate()[0].strip().splitlines()[-1]) for run in runs]


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 steps, 1 repeat")
    parser.add_argument("--helper", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.helper:
        print(one_run(*args.helper))
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    steps, repeats = (2, 1) if args.quick else (args.steps, args.repeats)
    setups = {"one run, every core": [cores], "one run, one thread": [1],
              "two runs, one thread each": [1, 1],
              "two runs, every core + one thread": [cores, 1]}
    seconds = {name: [] for name in setups}
    for _ in range(repeats):  # the setups alternate, so a slow moment hits all
        for name, threads in setups.items():
            seconds[name].append(together(threads, steps))
    per_step = {name: [median(run[i] for run in runs) for i in range(len(runs[0]))]
                for name, runs in seconds.items()}
    alone = 1 / per_step["one run, every core"][0]  # steps per second
    rows = [{"setup": name, "threads": setups[name],
             "seconds_per_step": [round(s, 4) for s in per_step[name]],
             "steps_per_s": round(sum(1 / s for s in per_step[name]), 3),
             "throughput_vs_one_run_every_core":
                 round(sum(1 / s for s in per_step[name]) / alone, 2)}
            for name in setups]
    for row in rows:
        print(f"{row['setup']:>34}: {row['seconds_per_step']} s/step, "
              f"{row['throughput_vs_one_run_every_core']}x the steps/s of one run "
              "on every core")
    return write_result(args.out, "parallel_speed.py", argv, {
        "quick": args.quick, "cores": cores, "batch": [BATCH, TOKENS], "steps": steps,
        "repeats": repeats, "runs": rows, "raw_seconds": seconds})


if __name__ == "__main__":
    main()
