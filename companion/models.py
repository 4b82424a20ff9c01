"""Models and tokenizers: offline presets, pretrained GPT-2, saving and loading.

The offline presets are GPT-2 in miniature, built from a config and trained from
scratch by the course. `tiny-distilgpt2` has half the blocks of `tiny-gpt2` at the
same width, as DistilGPT-2 has half of GPT-2's twelve. Their tokenizer is a
byte-level BPE trained with `tokenizers` on the course's own general text.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

from transformers.utils import logging as hf_logging

from .config import BUNDLED_DIR, CACHE_DIR, CourseError
from .readers import read_table
from .runtime import hub_reachable, resolve_device

hf_logging.disable_progress_bar()  # shard-writing bars would drown the lesson's output
EOS = "<|endoftext|>"  # GPT-2's one special token: begin, end and padding


@dataclass(frozen=True)
class ModelPreset:
    """A GPT-2-architecture model small enough to train on a laptop CPU."""

    n_layer: int  # transformer blocks
    n_embd: int = 128  # width of the residual stream
    n_head: int = 4  # attention heads per block
    n_positions: int = 512  # longest sequence
    vocab_size: int = 2048  # most BPE tokens (fewer if the corpus runs out of pairs)


PRESETS = {
    "tiny-gpt2": ModelPreset(n_layer=4),
    "tiny-distilgpt2": ModelPreset(n_layer=2),  # half the blocks, same width
}


def corpus_texts() -> list[str]:
    """The course's general text, on which the offline tokenizer is trained."""
    path = BUNDLED_DIR / "general" / "corpus.jsonl"
    if not path.exists():
        raise CourseError(f"{path} is missing: run `python -m companion.synth` to rebuild it")
    return [row["text"] for row in read_table(path, ("text",))]


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE trained on `texts`; deterministic for the same input."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS],
        show_progress=False,
    )
    return _wrap(bpe._tokenizer)


def _wrap(backend) -> PreTrainedTokenizerFast:
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=EOS, eos_token=EOS, pad_token=EOS,
        unk_token=EOS,
    )
    tokenizer.model_max_length = max(p.n_positions for p in PRESETS.values())
    return tokenizer


def course_tokenizer(vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """The offline tokenizer, trained once on the general corpus and cached by content."""
    texts = corpus_texts()
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    folder = CACHE_DIR / f"tokenizer-{vocab_size}-{digest}"
    if (folder / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(folder)
    tokenizer = train_tokenizer(texts, vocab_size)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tokenizer.save_pretrained(tmp)
    if folder.exists():  # another process got there first
        shutil.rmtree(tmp)
    else:
        tmp.replace(folder)
    return AutoTokenizer.from_pretrained(folder)


def build_preset(name: str, tokenizer) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 of the named preset's shape (seed first for repeatability)."""
    preset = PRESETS[name]
    eos = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=preset.n_positions,
        n_embd=preset.n_embd, n_layer=preset.n_layer, n_head=preset.n_head,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
        tie_word_embeddings=True,
        # GPT-2's tanh-approximated GELU as one torch kernel ("gelu_new" is the same
        # formula in five elementwise ops): a training step 1.15x faster on a CPU
        activation_function="gelu_pytorch_tanh",
        # no dropout: the baseline's job is to memorise, and it makes runs repeat exactly
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(config)


def load_model(name: str | Path, device: str = "auto"):
    """Model and tokenizer: an offline preset (fresh weights), a local folder, or a hub name."""
    key = str(name)
    if key in PRESETS:
        tokenizer = course_tokenizer(PRESETS[key].vocab_size)
        model = build_preset(key, tokenizer)
    elif Path(key).is_dir():
        model, tokenizer = _from_pretrained(key, local_only=True)
    elif Path(key).exists() or key.startswith((".", "/", "~")):
        raise CourseError(f"{key} is not a model folder: pass a folder made by save_model")
    else:
        model, tokenizer = _from_hub(key)
    ensure_pad_token(tokenizer)
    tokenizer.padding_side = "right"
    return model.to(resolve_device(device)), tokenizer


def ensure_pad_token(tokenizer):
    """The tokenizer, padding with its EOS token when it has no pad token.

    GPT-2 (and most local GPT-2-style folders) ship without a pad token; the
    official SemEval-2025 kit pads with EOS, and so does the course. Padding is
    always found by the attention mask, never by the token id, so this is safe.
    Raises CourseError when there is no EOS token either.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise CourseError("the tokenizer has neither a pad nor an EOS token: set "
                              "tokenizer.pad_token to one of its tokens first")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _from_pretrained(source: str, local_only: bool):
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    return model, tokenizer


def _from_hub(name: str):
    """Fetch from the hub, or fail within seconds with one line (a bare call hangs ~50 s)."""
    offline = not hub_reachable()
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # stop later calls from retrying
    try:
        return _from_pretrained(name, local_only=offline)
    except (OSError, ValueError) as error:
        where = "the Hugging Face Hub is unreachable and it is not in the local cache"
        if not offline:
            where = f"the Hub refused it ({str(error).splitlines()[0][:120]})"
        raise CourseError(
            f"cannot load model {name!r}: {where}; use an offline preset "
            f"({', '.join(PRESETS)}) or a local folder saved with save_model"
        ) from None


def save_model(model, tokenizer, folder: str | Path, state_dict: dict | None = None
               ) -> Path:
    """Save weights (safetensors), config and tokenizer with `save_pretrained`.

    state_dict: the weights to write instead of the model's own (an FSDP model's
    gathered full state dict, companion.accelerated.full_state_dict).
    """
    folder = Path(folder)
    tensors = model.parameters() if state_dict is None else state_dict.values()
    if any(not torch.isfinite(t).all() for t in tensors if t.is_floating_point()):
        raise CourseError(f"refusing to save NaN/inf weights to {folder}: the run diverged")
    model.save_pretrained(folder, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(folder)
    return folder


ARCHITECTURES = ("gpt2", "olmo", "olmo2")  # families save_random_model can build


def save_random_model(folder: str | Path, architecture: str = "gpt2", width: int = 64,
                      layers: int = 2, context: int = 1024) -> Path:
    """A tiny randomly initialised causal LM saved as a hub model would be.

    Same config class and tokenizer API as the real family (GPT-2, or OLMo / OLMo-2
    as the SemEval-2025 targets), with the course's byte-level BPE vocabulary and,
    as GPT-2 ships, no pad token. It rehearses the `full` profile's code path, or a
    larger target's, on a CPU in seconds. `context`: longest sequence, in tokens.
    """
    from transformers import GPT2Tokenizer, Olmo2Config, OlmoConfig

    folder = Path(folder)
    backend = course_tokenizer().backend_tokenizer
    folder.mkdir(parents=True, exist_ok=True)
    backend.save(str(folder / "tokenizer.json"))
    tokenizer = GPT2Tokenizer(tokenizer_file=str(folder / "tokenizer.json"))
    eos, vocab = tokenizer.eos_token_id, len(tokenizer)
    if architecture == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_positions=context, n_embd=width,
                            n_layer=layers, n_head=2, bos_token_id=eos,
                            eos_token_id=eos)
    elif architecture in ("olmo", "olmo2"):
        family = OlmoConfig if architecture == "olmo" else Olmo2Config
        config = family(vocab_size=vocab, hidden_size=width,
                        intermediate_size=2 * width,
                        num_hidden_layers=layers, num_attention_heads=2,
                        max_position_embeddings=context, bos_token_id=eos,
                        eos_token_id=eos, pad_token_id=None)
    else:
        raise CourseError(f"unknown architecture {architecture!r}: choose one of "
                          f"{', '.join(ARCHITECTURES)}")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def param_count(model) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def describe_presets() -> list[dict]:
    """One row per preset: layers, width, heads and parameter count."""
    tokenizer = course_tokenizer()
    rows = []
    for name, preset in PRESETS.items():
        model = build_preset(name, tokenizer)
        rows.append({"preset": name, "layers": preset.n_layer, "width": preset.n_embd,
                     "heads": preset.n_head, "vocab": len(tokenizer),
                     "parameters": param_count(model)})
    return rows
