"""Erasure requests one after another: the forget set unlearnt request by request.

A user asks for some documents to be forgotten, later for others: each request
is unlearnt in turn from where the previous one left the model (stabilised on
the retain set first, when asked), and saved as request-1, request-2, ...
`split_requests` cuts the forget set into requests of whole documents;
`pipeline.Run.requests(n)` runs them from a run's baseline.
"""

from __future__ import annotations

from datasets import Dataset

from . import checkpoints
from .config import CourseError, EvalConfig, TrainConfig, UnlearnConfig
from .data import document_id, documents, training_texts
from .guard import Calibration, make_monitor, needs_calibration
from .train import TrainResult, negative_finetune, stabilise_retain, stage_losses


def split_requests(forget_dataset: Dataset, n: int) -> list[Dataset]:
    """The forget set cut into `n` requests of whole documents, in document order."""
    docs = list(dict.fromkeys(document_id(i) for i in forget_dataset["id"]))
    if not 1 <= n <= len(docs):
        raise CourseError(f"cannot split {len(docs)} documents into {n} requests: "
                          f"choose n between 1 and {len(docs)}")
    group = {doc: k * n // len(docs) for k, doc in enumerate(docs)}  # near-equal
    rows = [group[document_id(i)] for i in forget_dataset["id"]]
    return [forget_dataset.select([j for j, g in enumerate(rows) if g == k])
            for k in range(n)]


def sequential_requests(model, tokenizer, requests: list[Dataset], retain: Dataset,
                        config: UnlearnConfig, out_dir, *,
                        stabilise: TrainConfig | None = None,
                        eval_config: EvalConfig | None = None, seed: int = 0,
                        overwrite: bool = False, progress: bool = True,
                        settings: dict | None = None,
                        held_out: list[str] | None = None,
                        stabilised: dict | None = None) -> list[TrainResult]:
    """Unlearn each request in turn (after stabilising, if given): request-1, -2, ...

    Each request gets the full `config` budget and its own checkpoint in out_dir;
    request k stabilises and unlearns with seed + k - 1. eval_config: when given,
    each request stops on its own forget regurgitation; held_out: documents for
    the calibrated stop (config.stop_rule "held_out") and for a per-document
    ceiling (method per_document_ascent). `model` is trained in place, request
    after request. stabilised: the summary of a stabilisation `model` has already
    had, with `stabilise` and `seed` (a run's saved stabilised stage): request 1
    does not stabilise it again, and records that summary.
    """
    retain_texts, results = training_texts(retain), []
    for k, request in enumerate(requests, start=1):
        done = stabilised if k == 1 and stabilise is not None else None
        if stabilise is not None and done is None:
            done = stabilise_retain(model, tokenizer, retain_texts, stabilise,
                                    seed=seed + k - 1, progress=progress).summary()
        monitor = (make_monitor(tokenizer, request, config, eval_config)
                   if eval_config else None)
        calibrated = (Calibration(list(documents(request)["document"]),
                                  held_out=held_out)
                      if needs_calibration(config) and config.stop_rule != "oracle"
                      else None)  # no oracle per request: the Guard refuses that rule
        forget_texts = training_texts(request)
        result = negative_finetune(model, tokenizer, forget_texts, retain_texts, config,
                                   monitor=monitor, seed=seed + k - 1,
                                   progress=progress, calibration=calibrated)
        losses = stage_losses(model, tokenizer,
                              {"request": forget_texts, "retain": retain_texts}, config)
        documents_n = len(set(map(document_id, request["id"])))
        info = {**(settings or {}), "request": k, "documents": documents_n,
                "configs": {"stabilise": stabilise, "unlearn": config},
                "stabilise": done, "result": result.summary(), "losses": losses}
        checkpoints.save_stage(out_dir, f"request-{k}", model, tokenizer, info,
                               history={"history": result.history, "checks": result.checks},
                               overwrite=overwrite)
        print(f"request-{k}: {result.stopped}; request loss "
              f"{losses['request_loss']:.3f}, retain loss {losses['retain_loss']:.3f}")
        results.append(result)
    return results
