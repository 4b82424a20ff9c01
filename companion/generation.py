"""Batched greedy generation: the continuations every score is computed from.

Prompts are left-padded (a decoder continues from the right end), grouped longest
first so a batch holds similar lengths, and decoded greedily with the KV cache;
over-long prompts keep their end, the text right before the continuation. The
same helpers cut and pad the texts whose losses membership inference compares.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager


from .config import CourseError
from .textloss import context_length, scoring
from .models import ensure_pad_token
from .runtime import progress_bar


class _NoMaskNotice(logging.Filter):
    """Drop transformers' "pass an attention_mask" notice during generation.

    When a batch needs no padding its all-ones mask is dropped, and a row that has
    finished emits EOS, which is also the pad token here; transformers then takes
    the EOS for padding and warns. Each row attends only to its own tokens, so the
    outputs are right (batched equals one-at-a-time, see bench/eval_speed.py).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "passing in an `attention_mask`" not in record.getMessage()


logging.getLogger("transformers.modeling_utils").addFilter(_NoMaskNotice())


@contextmanager
def padding_side(tokenizer, side: str):
    """Pad on `side` inside the block, then restore the tokenizer's own side."""
    before = tokenizer.padding_side
    tokenizer.padding_side = side
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side = before


def token_ids(tokenizer, texts, limit: int, keep: str, minimum: int) -> list[list[int]]:
    """Token ids of each text, cut to `limit` tokens keeping the `keep` end."""
    texts = list(texts)  # a datasets Column or any sequence of strings
    if not texts:
        raise CourseError("no texts to score: the list is empty (is the split empty, "
                          "or has it no sentence-completion items?)")
    ensure_pad_token(tokenizer)  # a user's GPT-2 tokenizer has none: pad with EOS
    ids = tokenizer(texts, verbose=False)["input_ids"]  # cut below, so no length warning
    for i, row in enumerate(ids):
        if len(row) < minimum:
            raise CourseError(f"text {i} ({texts[i][:40]!r}) is too short to score "
                              f"(fewer than {minimum} tokens): remove it from the data")
    return [row[-limit:] if keep == "end" else row[:limit] for row in ids]


def length_batches(ids: list[list[int]], batch_size: int):
    """Index batches, longest first, so a batch holds similar lengths (less padding)."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 64,
             batch_size: int = 16, progress: bool = True) -> list[str]:
    """Greedy continuations of `prompts` (continuation only), batched, in input order."""
    prompts = list(prompts)  # a datasets Column or any sequence of strings
    if not prompts:
        return []
    room = context_length(model, tokenizer) - max_new_tokens
    if room < 1:
        raise CourseError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt "
                          "in this model's context: lower EvalConfig.max_new_tokens")
    # over-long prompts keep their end: the text right before the continuation
    ids = token_ids(tokenizer, prompts, room, keep="end", minimum=1)
    answers: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    # leave=False: an evaluation calls this several times; no finished bar stays behind
    bar = progress_bar(total=len(prompts), desc="generating", unit="item",
                       progress=progress, leave=False)
    with scoring(model), padding_side(tokenizer, "left"):
        for index in length_batches(ids, batch_size):
            batch = tokenizer.pad({"input_ids": [ids[i] for i in index]},
                                  return_tensors="pt").to(device)  # (batch, width)
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]  # (batch, <= max_new_tokens)
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            for i, text in zip(index, texts):
                answers[i] = text
            bar.update(len(index))
    bar.close()
    return answers
