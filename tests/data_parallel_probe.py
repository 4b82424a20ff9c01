"""Run by tests/test_accelerated.py, alone or under `accelerate launch`: a short
train_loop whose loss function records the rows each process sees, and whose guard
stops at STOP_AT on the main process only. Writes OUT/rank-<k>.json."""

import json
import sys
from pathlib import Path

from companion.accelerated import is_main_process
from companion.config import TrainConfig
from companion.runtime import set_seed
from companion.data import load_benchmark, training_texts
from companion.models import build_preset, course_tokenizer
from companion.guard import stop_on_nonfinite
from companion.train import (language_model_loss, make_batches,
                             train_loop)

STEPS, STOP_AT = 8, 6
CONFIG = TrainConfig(steps=STEPS, batch_size=8, grad_accum=2, lr=2e-3, max_length=64,
                     log_every=1)


def texts() -> list[str]:
    return training_texts(load_benchmark("bundled")["forget_train"])


def run(out: Path, stop: bool) -> dict:
    from accelerate import PartialState

    set_seed(0)
    tokenizer = course_tokenizer()
    model = build_preset("tiny-distilgpt2", tokenizer)
    seen = []

    def recording_loss(model, batch):
        seen.append([row[row != -100].tolist() for row in batch["labels"].cpu()])
        return language_model_loss(model, batch)

    def guard(step, record):  # only the main process decides to stop
        if stop and step == STOP_AT and is_main_process():
            return f"stopped by the main process at step {step}"
        return stop_on_nonfinite(step, record)

    batches = make_batches(tokenizer, texts(), CONFIG.batch_size, CONFIG.max_length)
    result = train_loop(model, recording_loss, batches, CONFIG, guard=guard, progress=False)
    record = {"history": result.history, "stopped": result.stopped,
              "steps": result.steps, "seen": seen}
    out.mkdir(parents=True, exist_ok=True)
    rank = PartialState().process_index
    (out / f"rank-{rank}.json").write_text(json.dumps(record))
    return record


if __name__ == "__main__":
    run(Path(sys.argv[1]), stop=sys.argv[2] == "stop")
