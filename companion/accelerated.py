"""What `train_loop` asks of Hugging Face accelerate: precision, processes, agreement.

One process on a laptop, one GPU on Colab, or several processes started by
`accelerate launch` (data parallel over GPUs, or over CPU processes with gloo):
the loop is the same. Here live the few decisions around it:

  - `choose_precision`: bf16 autocast on CUDA GPUs that have bf16 (Ampere and
    later), fp16 with loss scaling on older ones (T4, V100), fp32 on CPU and MPS;
  - `my_share`: each process takes its own rows of every global batch (`shard`),
    its loss weighted by its share of the tokens, so a run on k processes takes
    the same optimiser steps as a run on one;
  - `mean_over_processes` and `agree`: logged numbers are averaged over processes,
    and a stop decided by the main process's guard reaches every process;
  - `is_main_process`: only the main process writes checkpoints and reports;
  - `full_state_dict`: under FSDP no process holds the whole model, so every
    process gathers it before process 0 writes a checkpoint.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import broadcast_object_list

from .config import CourseError

PRECISIONS = ("auto", "no", "fp16", "bf16")  # "no" = fp32


def choose_precision(device: torch.device, bf16: bool | None = None) -> str:
    """accelerate's mixed_precision for `device`: "bf16", "fp16" or "no" (fp32).

    bf16: whether the GPU computes bf16 natively (None: ask torch; emulation on
    a T4 does not count, it is slower than fp32). fp16 comes with a loss scaler.
    """
    if device.type != "cuda":
        return "no"  # CPU and MPS train in fp32
    if bf16 is None:
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    return "bf16" if bf16 else "fp16"


def make_accelerator(device: torch.device, precision: str = "auto") -> Accelerator:
    """An Accelerator for a model on `device` (or on each launched process's device).

    precision: "auto" (choose_precision), or "no" / "fp16" / "bf16";
    `COURSE_PRECISION` overrides it for every stage.
    """
    precision = os.environ.get("COURSE_PRECISION", precision).strip().lower()
    if precision not in PRECISIONS:
        raise CourseError(f"unknown precision {precision!r}: choose one of "
                          f"{', '.join(PRECISIONS)} (COURSE_PRECISION or "
                          "TrainConfig.precision)")
    cpu = device.type == "cpu"  # on CPU, launched processes talk through gloo
    state = PartialState(cpu=cpu)  # the first call decides; later ones share it
    if precision == "auto":
        precision = choose_precision(state.device)
    return Accelerator(mixed_precision=precision, cpu=cpu)


def shard(batch, index: int, count: int):
    """Process `index` of `count`'s rows of a global batch: rows index, index+count, ...

    batch: a dict of (rows, seq) tensors, or a tuple of such dicts (forget and
    retain). A batch with fewer rows than processes gives the spare processes a
    repeated row, so that none holds an empty batch.
    """
    if count == 1:
        return batch
    if isinstance(batch, dict):
        rows = len(next(iter(batch.values())))
        chosen = list(range(index, rows, count)) or [index % rows]
        return {key: value[chosen] for key, value in batch.items()}
    return tuple(shard(part, index, count) for part in batch)


def predicted_tokens(batch) -> int:
    """Tokens a batch's loss is the mean over (labels after the first, not -100).

    For a tuple (forget, retain) the first part's: the forget term sets the weight.
    """
    first = batch if isinstance(batch, dict) else batch[0]
    return max(int((first["labels"][:, 1:] != -100).sum()), 1)


def my_share(batch, accelerator) -> tuple:
    """(this process's shard of a global batch, its loss weight); (batch, 1.0) alone.

    The weight is the shard's share of the batch's predicted tokens times the
    number of processes, so that the average of the processes' gradients is the
    whole batch's mean per token, as on one process.
    """
    if accelerator is None or accelerator.num_processes == 1:
        return batch, 1.0
    mine = shard(batch, accelerator.process_index, accelerator.num_processes)
    return mine, accelerator.num_processes * predicted_tokens(mine) / predicted_tokens(
        batch)


def syncing(model, accelerator, last: bool):
    """Gradients are averaged across processes after the last micro-batch only."""
    if accelerator is None or last:
        return nullcontext()
    return accelerator.no_sync(model)


def backward(loss: torch.Tensor, accelerator) -> None:
    """loss.backward(), through accelerate's loss scaler where there is one."""
    if accelerator is None:
        loss.backward()
    else:
        accelerator.backward(loss)


def clip_gradients(params, max_norm: float, accelerator) -> float:
    """Clip the gradients' global norm to max_norm (unscaled first under fp16)."""
    if accelerator is None:
        return torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    return float(accelerator.clip_grad_norm_(params, max_norm))


def overflowed(norm: float, accelerator) -> bool:
    """An fp16 step whose scaled gradients overflowed: the scaler skips it."""
    return accelerator is not None and accelerator.scaler is not None and \
        not math.isfinite(norm)


def mean_over_processes(terms: dict[str, float], accelerator) -> dict:
    """The mean of each logged number over all processes (itself on one process)."""
    if accelerator is None or accelerator.num_processes == 1:
        return terms
    values = torch.tensor(list(terms.values()), device=accelerator.device)
    mean = accelerator.reduce(values, reduction="mean").tolist()
    return dict(zip(terms, mean))


def agree(message: str | None, accelerator: Accelerator) -> str | None:
    """The main process's stop message (or None), the same on every process."""
    if accelerator.num_processes == 1:
        return message
    shared = [message]
    broadcast_object_list(shared, from_process=0)
    return shared[0]


def is_main_process() -> bool:
    """True in a single process, and in process 0 of a launched run."""
    return PartialState().is_main_process


def wait_for_everyone() -> None:
    """A barrier: every launched process waits here for the others (no-op alone)."""
    PartialState().wait_for_everyone()


def is_sharded(model) -> bool:
    """True when FSDP has sharded `model` (DTensor parameters, or FSDP-1 wrappers)."""
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters()) or any(
        isinstance(m, FullyShardedDataParallel) for m in model.modules())


def full_state_dict(model) -> dict | None:
    """The whole model's weights gathered from its FSDP shards; None if not sharded.

    A collective: under FSDP every process must call it. Process 0 receives
    {name: full CPU tensor}, the others an empty dict. It is the call accelerate's
    `Accelerator.get_state_dict` makes for FSDP-2 (torch.distributed.checkpoint's
    `get_model_state_dict` with full_state_dict=True, cpu_offload=True), which also
    handles FSDP-1's FULL_STATE_DICT (configs/accelerate_fsdp.yaml), without needing
    the Accelerator that trained the model.
    """
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import (StateDictOptions,
                                                         get_model_state_dict)

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)
