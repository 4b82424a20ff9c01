"""Training: batches, one explicit loop, the layer spec, the stages (guard: companion.guard).

The same `train_loop` serves every stage; only the loss function changes:
  - `finetune` (the baseline) and `stabilise_retain` minimise the language-model
    loss on their texts (positive fine-tuning);
  - `negative_finetune` minimises an unlearning method's loss (companion.methods)
    with only the chosen parameters free to move, under a `Guard` that stops at
    the target or at divergence.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import torch
from transformers import get_scheduler

from .accelerated import (agree, backward, clip_gradients, make_accelerator,
                          mean_over_processes, my_share, overflowed, syncing)
from .config import CourseError, TrainConfig, UnlearnConfig
from .guard import Calibration, Guard, stop_on_nonfinite
from .runtime import progress_bar
from .methods import get_method
from .runtime import set_seed
from .textloss import collate, encode, mean_loss, padding_id, token_nll


# ---------------------------------------------------------------- batches


def make_batches(tokenizer, texts: list[str], batch_size: int, max_length: int,
                 seed: int = 0, shuffle: bool = True) -> Iterator[dict]:
    """Endless batches of `texts`, reshuffled each epoch by a generator seeded so."""
    if not texts:
        raise CourseError("no texts to make batches from: is the data split empty?")
    rows = encode(tokenizer, texts, max_length)
    generator = torch.Generator().manual_seed(seed)
    while True:
        for chosen in _epoch([len(r) for r in rows], batch_size, generator, shuffle):
            yield collate([rows[i] for i in chosen], padding_id(tokenizer))


def chunked_batches(tokenizer, texts: list[str], chunks: int, steps: int, *,
                    batch_size: int, max_length: int, seed: int = 0) -> Iterator[dict]:
    """Endless batches of `texts` cut into `chunks` seeded parts, taken in turn.

    steps: the batches the run draws in all (optimiser steps x grad_accum), shared
    out as evenly as possible: each part gets steps // chunks batches, the first
    steps % chunks parts one more, and the last part goes on after its share. Each
    part is `make_batches` of its own texts. Errors (at the call, before any
    batch): CourseError unless 1 <= chunks <= len(texts) and chunks <= steps (a
    part without a batch would never be unlearnt).
    """
    if not 1 <= chunks <= len(texts):
        raise CourseError(f"chunks={chunks} for {len(texts)} forget texts: use 1 to "
                          f"{len(texts)} (unlearn.params.chunked_difference.chunks)")
    if chunks > steps:
        raise CourseError(f"chunks={chunks} for a budget of {steps} batches: the last "
                          "parts would never be unlearnt; use fewer chunks or more "
                          "unlearn.steps")
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))
    parts = [[texts[i] for i in part.tolist()] for part in order.tensor_split(chunks)]
    shares = [len(s) for s in torch.arange(steps).tensor_split(chunks)]

    def in_turn():
        for k, (part, share) in enumerate(zip(parts, shares)):
            batches = make_batches(tokenizer, part, batch_size, max_length, seed + k)
            yield from batches if k == chunks - 1 else itertools.islice(batches, share)
    return in_turn()


def _epoch(lengths: list[int], batch_size: int, generator,
           shuffle: bool) -> list[list[int]]:
    """One epoch's batches of row indices: shuffled, similar lengths together."""
    n = len(lengths)
    if not shuffle:
        return [list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]
    order = torch.randperm(n, generator=generator).tolist()
    window = 16 * batch_size  # sorting inside windows of 16 batches cuts padding ~2x
    order = [i for s in range(0, n, window)
             for i in sorted(order[s : s + window], key=lengths.__getitem__)]
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]


def to_device(batch, device):
    """Move a batch (a dict of tensors, or a tuple of such dicts) to `device`."""
    if isinstance(batch, dict):
        return {key: value.to(device) for key, value in batch.items()}
    return tuple(to_device(part, device) for part in batch)


# ---------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What a stage did: the logged history, the guard's checks and why it stopped."""

    history: list[dict]  # logged steps: step, loss, grad_norm and the method's terms
    stopped: str  # "max steps" | "target reached at step 30: ..." | "diverged at ..."
    steps: int  # optimiser steps taken
    seconds: float  # wall time of the loop
    checks: list[dict] = field(default_factory=list)  # guard: losses every check_every

    def summary(self) -> dict:
        """A few numbers for settings.json: steps, time, first/last loss, the stop."""
        losses = [row["loss"] for row in self.history]
        return {"steps": self.steps, "seconds": round(self.seconds, 2),
                "stopped": self.stopped, "first_loss": losses[0] if losses else None,
                "last_loss": losses[-1] if losses else None}


def train_step(model, loss_fn: Callable, batches: Iterator, optimizer,
               config: TrainConfig, accelerator=None) -> tuple[dict[str, float], float]:
    """One step of `train_loop`: zero_grad, forward + loss, backward, clip, step.

    `config.grad_accum` micro-batches add loss / grad_accum to the gradients; a
    NaN/inf loss or gradient skips the step. Returns (terms averaged over the
    micro-batches, "loss" among them; the gradient norm before clipping). With
    train_loop's `accelerator`, each process takes its share of every batch and
    accelerate runs backward and clipping (companion.accelerated).
    """
    device = next(model.parameters()).device
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    terms: dict[str, float] = {}
    for micro in range(config.grad_accum):  # micro-batches add up their gradients
        batch, weight = my_share(next(batches), accelerator)  # (batch, 1.0) alone
        with syncing(model, accelerator, last=micro == config.grad_accum - 1):
            loss, logged = loss_fn(model, to_device(batch, device))  # forward
            backward(loss * weight / config.grad_accum, accelerator)
        for key, value in {"loss": loss.item(), **logged}.items():
            terms[key] = terms.get(key, 0.0) + value * weight / config.grad_accum
    terms = mean_over_processes(terms, accelerator)
    norm = clip_gradients(params, config.clip_norm, accelerator)
    if overflowed(norm, accelerator):
        terms["overflow"] = 1.0  # fp16: the loss scaler skips this step
    if math.isfinite(terms["loss"]) and (math.isfinite(norm) or "overflow" in terms):
        optimizer.step()  # a NaN/inf loss or gradient never reaches the weights
    return terms, norm


def fit_context(config: TrainConfig, model, tokenizer) -> TrainConfig:
    """`config` with max_length cut to the model's context (longer texts are cut)."""
    from .generation import context_length

    limit = context_length(model, tokenizer)
    if not limit:
        return config
    return replace(config, max_length=min(config.max_length, limit))


SCHEDULES = {"constant": "constant_with_warmup", "cosine": "cosine"}


def lr_schedule(optimizer, config: TrainConfig):
    """The learning-rate schedule of `config`: transformers' `get_scheduler`.

    Linear warm-up over `config.warmup_steps`, then "constant" (the peak
    `config.lr` until the end) or "cosine" (half a cosine from the peak to 0 at
    `config.steps`; Loshchilov & Hutter 2017). Stepped once per optimiser step.
    """
    if config.schedule not in SCHEDULES:
        raise CourseError(f"unknown schedule {config.schedule!r}: choose one of "
                          f"{', '.join(SCHEDULES)}")
    return get_scheduler(SCHEDULES[config.schedule], optimizer,
                         num_warmup_steps=config.warmup_steps,
                         num_training_steps=config.steps)


def train_loop(model, loss_fn: Callable, batches: Iterator, config: TrainConfig, *,
               guard: Callable | None = None, progress: bool = True,
               desc: str = "training") -> TrainResult:
    """Minimise `loss_fn(model, batch) -> (loss, terms)` with AdamW, under accelerate.

    Only parameters with requires_grad move. `guard(step, record) -> message |
    None` is asked after every step; a message stops training (see `Guard`).
    Warm-up is linear over `warmup_steps`, then `config.schedule` (lr_schedule).
    accelerate places the model and picks its precision; under `accelerate
    launch` the processes share each batch (data parallel) and the main
    process's guard decides for all (companion.accelerated).
    """
    accelerator = make_accelerator(next(model.parameters()).device, config.precision)
    model = accelerator.prepare(model)  # placed; wrapped for data parallel / autocast
    params = [p for p in model.parameters() if p.requires_grad]
    # one fused kernel for all tensors where torch has it (as Trainer's default does)
    fused = True if accelerator.device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.AdamW(params, config.lr, weight_decay=config.weight_decay,
                                  fused=fused)
    schedule = lr_schedule(optimizer, config)
    optimizer = accelerator.prepare(optimizer)  # fp16: stepped through the scaler
    guard = guard or stop_on_nonfinite
    history, stopped, step, start = [], "max steps", 0, time.perf_counter()
    model.train()
    # the main process shows the bar; `with` closes it also when a stop breaks the
    # loop (leave=False: a finished bar disappears, none is left half-way)
    with progress_bar(total=config.steps, desc=desc, leave=False,
                      progress=progress and accelerator.is_main_process) as bar:
        for step in range(1, config.steps + 1):
            terms, norm = train_step(model, loss_fn, batches, optimizer, config,
                                     accelerator)
            if math.isfinite(terms["loss"]) and math.isfinite(norm):
                schedule.step()  # train_step took the optimiser step
            record = {"step": step, **terms, "grad_norm": norm}
            message = agree(guard(step, record), accelerator)  # main process decides
            bar.update()
            if message or step % config.log_every == 0 or step in (1, config.steps):
                history.append(record)
                bar.set_postfix(loss=f"{terms['loss']:.3f}")
            if message:
                stopped = message
                # a bar closed short of its total stays on screen (tqdm's notebook
                # bar turns red): this run's total is the step it stopped at
                bar.total = step
                break
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the caller's model back
    accelerator.free_memory()
    return TrainResult(history, stopped, step, time.perf_counter() - start)


# ---------------------------------------------------------------- what moves

EMBEDDINGS = re.compile(r"(^|\.)(wte|wpe|embed\w*|lm_head)\.")  # tied LM head = wte
BLOCK = re.compile(r"\.(?:h|layers?|blocks)\.(\d+)\.")  # transformer.h.3.mlp... -> 3


def trainable_parameters(model, spec: str | list[int] = "all",
                         include_embeddings: bool = False) -> list[str]:
    """Names of the parameters `spec` lets move.

    spec: "all" (every block and the final layer norm), "last:k" / "first:k"
    (blocks), block indices ([0, 3] or "0,3"), or a regular expression on names.
    Embeddings and the tied LM head only move with include_embeddings=True.
    """
    names = [name for name, _ in model.named_parameters()]
    embeddings = [name for name in names if EMBEDDINGS.search(name)]
    body = [name for name in names if name not in embeddings]
    chosen = set(_select(spec, body, embeddings if include_embeddings else [],
                         model.config.num_hidden_layers))
    if include_embeddings:
        chosen.update(embeddings)
    return [name for name in names if name in chosen]


def _select(spec, body: list[str], extra: list[str], n_blocks: int) -> list[str]:
    listed = isinstance(spec, (list, tuple))
    text = ",".join(map(str, spec)) if listed else str(spec).strip()
    if text == "all":
        return body
    if match := re.fullmatch(r"(last|first):(\d+)", text):
        k = int(match[2])
        if not 1 <= k <= n_blocks:
            raise CourseError(f"{text!r}: k must be between 1 and {n_blocks} here")
        blocks = range(n_blocks - k, n_blocks) if match[1] == "last" else range(k)
    elif re.fullmatch(r"-?\d+(\s*,\s*-?\d+)*", text):
        blocks = [int(i) for i in text.split(",")]
        for i in blocks:
            if not 0 <= i < n_blocks:
                raise CourseError(f"block {i} is out of range: this model has blocks "
                                  f"0..{n_blocks - 1}")
    else:
        try:
            pattern = re.compile(text)
        except re.error as error:
            raise CourseError(f"trainable spec {text!r} is not a valid regex: "
                              f"{error}") from None
        found = [name for name in body + extra if pattern.search(name)]
        if not found:
            raise CourseError(
                f"trainable spec {text!r} matches no parameter (embeddings only with "
                f"include_embeddings=True); names look like {body[0]!r}"
            )
        return found
    wanted = set(blocks)
    return [n for n in body if (m := BLOCK.search(n)) and int(m[1]) in wanted]


@contextmanager
def only_trainable(model, names: list[str]):
    """Freeze every parameter not in `names` (requires_grad False) inside the block."""
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(name in names)
    try:
        yield
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(before[name])


def frozen_copy(model):
    """A copy of `model` that never trains: the reference of the KL and NPO methods."""
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


# ---------------------------------------------------------------- stages


def language_model_loss(model, batch: dict):
    """Positive fine-tuning's loss: mean NLL per token; no extra terms to log."""
    return token_nll(model, batch), {}


def finetune(model, tokenizer, texts: list[str], config: TrainConfig, *, seed: int = 0,
             progress: bool = True, desc: str = "fine-tuning") -> TrainResult:
    """Positive fine-tuning on `texts`: how the baseline memorises forget and retain."""
    set_seed(seed)
    config = fit_context(config, model, tokenizer)
    batches = make_batches(tokenizer, texts, config.batch_size, config.max_length, seed)
    return train_loop(model, language_model_loss, batches, config, progress=progress,
                      desc=desc)


def stabilise_retain(model, tokenizer, retain_texts: list[str], config: TrainConfig,
                     seed: int = 0, progress: bool = True) -> TrainResult:
    """Step 1 of sequential unlearning: positive fine-tuning on the retain set."""
    return finetune(model, tokenizer, retain_texts, config, seed=seed,
                    progress=progress, desc="stabilising retain")


def negative_finetune(model, tokenizer, forget_texts: list[str],
                      retain_texts: list[str], config: UnlearnConfig, *, reference=None,
                      monitor: Callable | None = None, seed: int = 0,
                      progress: bool = True, include_embeddings: bool = False,
                      calibration: Calibration | None = None) -> TrainResult:
    """Unlearn `forget_texts` with `config.method`, moving only `config.trainable`.

    The same budget for every method: at most `config.steps` optimiser steps of
    `batch_size` x `grad_accum` forget sequences (drawn in the same seeded order)
    at the same learning rate, checked by the same `Guard` every `check_every`
    steps. Retain batches (for the methods that use them) come on top of that.
    `monitor(model) -> float` (forget regurgitation) feeds `stop_regurgitation`;
    `calibration` feeds the calibrated stop (companion.guard explains the rules).
    """
    method = get_method(config.method)
    params, config = method.params_of(config), fit_context(config, model, tokenizer)
    names = trainable_parameters(model, config.trainable, include_embeddings)
    if method.reference == "start" and reference is None:
        reference = frozen_copy(model)  # the model as it was before unlearning
    if method.reference == "oracle" and reference is None:
        raise CourseError(f"{method.name} compares with the oracle: pass its model as "
                          "reference (the pipeline does)")
    set_seed(seed)
    size, length = config.batch_size, config.max_length
    if method.ceiling and params.ceiling == 0:  # per-document stopping: its level
        params = replace(params, ceiling=start_target(calibration, model, tokenizer,
                                                      config, method.name))
    forget = (chunked_batches(tokenizer, forget_texts, params.chunks,
                              config.steps * config.grad_accum, batch_size=size,
                              max_length=length, seed=seed)
              if method.chunked else
              make_batches(tokenizer, forget_texts, size, length, seed))
    retain = make_batches(tokenizer, retain_texts, size, length, seed + 1)

    def loss_fn(model, pair):
        return method(model, pair[0], pair[1], reference, params)

    with only_trainable(model, names):
        guard = Guard(model, tokenizer, forget_texts, retain_texts, config, monitor,
                      calibration)
        if message := guard.target(0, guard.start):  # nothing left to unlearn
            return TrainResult([], message, 0, 0.0, guard.checks)
        result = train_loop(model, loss_fn, zip(forget, retain), config, guard=guard,
                            progress=progress, desc=f"unlearning ({config.method})")
    result.checks = guard.checks
    return result


def start_target(calibration: Calibration | None, model, tokenizer,
                 config: UnlearnConfig, name: str) -> float:
    """The calibration's target loss (nats per token) under the model before unlearning."""
    if calibration is None:
        raise CourseError(f"{name} stops each text at the level of never-seen documents: "
                          "pass a calibration (the pipeline builds one)")
    return calibration.measure(model, tokenizer, config.batch_size)["target_loss"]


def stage_losses(model, tokenizer, texts: dict[str, list[str]],
                 config: TrainConfig) -> dict:
    """Mean loss per token of each named list of texts: {"forget_loss": ..., ...}."""
    config = fit_context(config, model, tokenizer)
    return {f"{name}_loss": round(mean_loss(model, tokenizer, t,
                                            max_length=config.max_length,
                                            batch_size=config.batch_size), 4)
            for name, t in texts.items()}
