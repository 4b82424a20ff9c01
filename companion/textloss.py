"""The loss of a text: one tokenise-pad-and-score path for training, guard, MIA, fluency.

The rule, stated once: a text is tokenised without special tokens, cut to its first
`max_length - 1` tokens, and followed by EOS (so a model trained on it learns where
a text ends, and generation stops). Its loss is the teacher-forced negative
log-likelihood of every token after the first, EOS included, in nats. Training
minimises the mean over a batch's tokens; the unlearning guard, the membership
inference attack (a document's mean token loss, as the official SemEval-2025 kit
scores members and non-members) and perplexity read the same numbers, so the
forget loss the guard prints and the member loss of the MIA are one quantity.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .config import CourseError


@contextmanager
def scoring(model):
    """The block scores `model` without training it: dropout off, no autograd.

    torch.inference_mode also skips the autograd bookkeeping no_grad keeps (view
    tracking, version counters): a tiny preset generates and scores in 15-16 % less
    time on a CPU (bench/RESULTS.md, "Scoring without autograd"). Tensors made
    inside cannot enter a later backward pass, so only scores (floats, arrays, text)
    leave the block. A model that was training trains again after.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def padding_id(tokenizer) -> int:
    """The id padding uses: the tokenizer's pad token, else EOS (as GPT-2 ships)."""
    pad = tokenizer.pad_token_id
    return tokenizer.eos_token_id if pad is None else pad


def encode(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, cut to max_length - 1, then EOS (the rule above)."""
    if tokenizer.eos_token_id is None:
        raise CourseError("the tokenizer has no EOS token: set tokenizer.eos_token "
                          "(GPT-2's is '<|endoftext|>') before training or scoring")
    # cut by the tokenizer itself, which then does not warn about long inputs
    ids = tokenizer(list(texts), add_special_tokens=False, truncation=True,
                    max_length=max_length - 1)["input_ids"]
    return [row + [tokenizer.eos_token_id] for row in ids]


def collate(rows: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask, labels (-100 on pads): (batch, seq)."""
    input_ids = torch.full((len(rows), max(map(len, rows))), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention_mask[i, : len(row)] = 1
    # pad may equal EOS, so padding is found by the mask, never by the token id
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def logits_of(model, batch: dict) -> torch.Tensor:
    """The model's (batch, seq, vocab) logits in fp32; position t predicts token t+1."""
    # no KV cache: a teacher-forced pass never reuses one (Trainer turns it off too)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                use_cache=False)
    return out.logits.float()


def next_token_labels(labels: torch.Tensor) -> torch.Tensor:
    """What each position must predict: the labels shifted left, -100 at the end.

    Shifting the labels, not slicing the logits, keeps the logits contiguous, so the
    loss reads them in place instead of copying a (batch, seq, vocab) tensor.
    """
    return F.pad(labels[:, 1:], (0, 1), value=-100)


def sequence_nll(model, batch: dict, logits: torch.Tensor | None = None):
    """Summed negative log-likelihood of each sequence's labelled tokens, and a count.

    Returns two tensors of shape (batch,). Padding (label -100) counts for nothing.
    `logits`, if given, are the model's (batch, seq, vocab) output for `batch`.
    """
    logits = logits_of(model, batch) if logits is None else logits
    labels = next_token_labels(batch["labels"])  # (batch, seq)
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                          ignore_index=-100, reduction="none").view_as(labels)
    return nll.sum(dim=1), (labels != -100).sum(dim=1)  # 0 where ignored


def token_nll(model, batch: dict) -> torch.Tensor:
    """Mean negative log-likelihood per labelled token: the usual LM loss (nats)."""
    nll, count = sequence_nll(model, batch)
    return nll.sum() / count.sum().clamp(min=1)


def context_length(model, tokenizer) -> int:
    """Longest sequence the model takes (GPT-2: n_positions)."""
    config = model.config
    return getattr(config, "n_positions", None) or getattr(
        config, "max_position_embeddings", None) or tokenizer.model_max_length


def text_nll(model, tokenizer, texts: list[str], *, max_length: int | None = None,
             batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Per text: summed NLL (nats) and the number of scored tokens, both shape (n,).

    max_length: tokens per text including EOS (default: the model's context).
    Texts are batched longest first, so a batch holds similar lengths; no training
    happens (dropout off, no gradients). Raises CourseError for an empty list or an
    empty text, which has nothing to score.
    """
    texts = list(texts)  # a datasets Column or any sequence of strings
    if not texts:
        raise CourseError("no texts to score: the split or document list is empty")
    for i, text in enumerate(texts):
        if not str(text).strip():
            raise CourseError(f"text {i} is empty: a text needs at least one token "
                              "to be scored; remove it from the data")
    rows = encode(tokenizer, texts, max_length or context_length(model, tokenizer))
    sums, counts = np.zeros(len(rows)), np.zeros(len(rows), dtype=np.int64)
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    with scoring(model):
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = collate([rows[i] for i in index], padding_id(tokenizer))
            nll, n = sequence_nll(model, {k: v.to(device) for k, v in batch.items()})
            sums[index], counts[index] = nll.cpu().numpy(), n.cpu().numpy()
    return sums, counts


def mean_loss(model, tokenizer, texts: list[str], *, max_length: int | None = None,
              batch_size: int = 16) -> float:
    """Mean loss per token over all `texts` (token-weighted, nats)."""
    sums, counts = text_nll(model, tokenizer, texts, max_length=max_length,
                            batch_size=batch_size)
    return float(sums.sum() / counts.sum())


def document_losses(model, tokenizer, texts: list[str], *, max_length: int | None = None,
                    batch_size: int = 16) -> np.ndarray:
    """Mean token loss of each text, shape (n,): the official MIA statistic."""
    sums, counts = text_nll(model, tokenizer, texts, max_length=max_length,
                            batch_size=batch_size)
    return sums / counts
