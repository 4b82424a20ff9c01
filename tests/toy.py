"""A toy benchmark and a toy model folder, shared by the end-to-end tests."""

from dataclasses import replace
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from transformers import GPT2Config, GPT2LMHeadModel

from companion.config import TrainConfig, UnlearnConfig, load_profile
from companion.data import COLUMNS, load_benchmark, write_jsonl_layout
from companion.models import save_model, train_tokenizer
from companion.pipeline import baseline_texts

NAMES = ("Ava", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal")


def tiny_gpt2(tokenizer, seed: int = 0, **config) -> GPT2LMHeadModel:
    """A random GPT-2 of a few thousand weights on `tokenizer` (EOS, id 0, pads).

    config: GPT2Config fields that differ from these defaults (n_layer, n_embd,
    n_positions, dropouts, ...). Seeded, so the same call gives the same weights.
    """
    torch.manual_seed(seed)
    settings = dict(n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
                    eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), **{**settings,
                                                                     **config}))


NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


def items(split: str, docs: list[int], ending: str = ".") -> list[dict]:
    """One sc and one qa item per document number, tasks cycling 1, 2, 3."""
    rows = []
    for d in docs:
        name, task = NAMES[d % len(NAMES)], f"Task{d % 3 + 1}"
        rows += [{"id": f"doc{d}sc1", "input": f"{name} lives in house",
                  "output": f"{d}{ending}", "task": task, "split": split},
                 {"id": f"doc{d}qa0", "input": f"Where does {name} live?",
                  "output": f"House {d}.", "task": task, "split": split}]
    return rows


def as_dataset(rows):
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS})


def write_toy(root: Path, model_name: str, ending: str = "."):
    """Write a toy benchmark to root/data and a 2x32 GPT-2 to root/model_name."""
    write_jsonl_layout(DatasetDict({
        "forget_train": as_dataset(items("forget", [0, 1, 2, 3, 4, 5], ending)),
        "forget_validation": as_dataset(items("forget", [20, 21, 22], ending)),
        "retain_train": as_dataset(items("retain", [10, 11, 12, 13, 14, 15], ending)),
        "retain_validation": as_dataset(items("retain", [30, 31, 32], ending))}),
        root / "data")
    benchmark = load_benchmark(root / "data")
    tokenizer = train_tokenizer(baseline_texts(benchmark, "folder") * 3, vocab_size=300)
    save_model(tiny_gpt2(tokenizer), tokenizer, root / model_name)
    return benchmark


def micro_profile(root: Path, finetune_steps: int, stabilise_steps: int, **unlearn):
    """The smoke profile on the toy data in root, with micro budgets (seconds).

    unlearn: UnlearnConfig fields beyond batch 4 and max_length 32.
    """
    return replace(
        load_profile("smoke", verbose=False), data=str(root / "data"),
        max_docs_per_task=None,
        finetune=TrainConfig(steps=finetune_steps, batch_size=8, lr=5e-3, max_length=32),
        stabilise=TrainConfig(steps=stabilise_steps, batch_size=4, lr=1e-3,
                              max_length=32),
        unlearn=UnlearnConfig(batch_size=4, max_length=32, **unlearn))
