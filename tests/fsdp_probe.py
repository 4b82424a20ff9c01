"""Run by tests/test_fsdp_save.py: a few training steps of a tiny GPT-2, then the
course's checkpoint save (checkpoints.save_stage), in one of two modes:

    python tests/fsdp_probe.py OUT one                 one process, an unsharded model
    accelerate launch --multi_gpu --num_processes 2 tests/fsdp_probe.py OUT fsdp
                                                       two CPU processes (gloo), the
                                                       model sharded by torch's FSDP-2

accelerate itself turns FSDP on only for GPU-type processes (on CPU it falls back to
data parallel), so here the model is sharded with torch's `fully_shard`, which is
what accelerate's FSDP-2 calls on GPUs. Both processes train on the same batches,
so the averaged gradients, and the weights, equal the one-process run's.
"""

import sys
from pathlib import Path

import torch

from companion import checkpoints
from companion.data import load_benchmark, training_texts
from companion.models import build_preset, course_tokenizer
from companion.runtime import set_seed
from companion.train import language_model_loss, make_batches

STEPS = 3


def main(out: Path, mode: str) -> None:
    from accelerate import PartialState

    state = PartialState(cpu=True)  # under a launch: the gloo process group
    set_seed(0)
    tokenizer = course_tokenizer()
    model = build_preset("tiny-distilgpt2", tokenizer)
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        assert state.num_processes == 2, "launch two processes for the fsdp mode"
        for block in model.transformer.h:
            fully_shard(block)
        fully_shard(model)
    texts = training_texts(load_benchmark("bundled")["forget_train"])
    batches = make_batches(tokenizer, texts, 4, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)
    model.train()
    for _ in range(STEPS):
        loss, _ = language_model_loss(model, next(batches))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    checkpoints.save_stage(out, "baseline", model, tokenizer,
                           {"mode": mode, "loss": float(loss)})


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
