"""Run-time checks: seeding, the device, whether the Hugging Face Hub answers, bars.

They touch the machine (generators, accelerators, the network, the display), so
they live apart from companion.config, which only describes a run.
"""

from __future__ import annotations

import os
import random
import socket
from concurrent.futures import ThreadPoolExecutor, TimeoutError

import numpy as np
import torch
from tqdm.auto import tqdm


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch so that a run repeats exactly on one machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto`: CUDA (cuda:LOCAL_RANK when launched), then MPS, then CPU; else as is."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        rank = os.environ.get("LOCAL_RANK")  # a process of `accelerate launch`: its GPU
        return torch.device("cuda", int(rank)) if rank else torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def hub_reachable(timeout: float = 3.0, host: str = "huggingface.co") -> bool:
    """True when the Hugging Face Hub answers within `timeout` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False

    def connect() -> bool:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                return True
        except OSError:
            return False

    # a thread bounds the DNS lookup too, which socket timeouts do not cover
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout + 0.5)
    except TimeoutError:
        return False
    finally:
        pool.shutdown(wait=False)


def progress_bar(iterable=None, *, progress: bool = True, **options) -> tqdm:
    """tqdm.auto's bar (a widget in Jupyter), off when `progress` is False or the
    environment sets TQDM_DISABLE=1: tqdm's console bar reads that variable but its
    notebook bar does not (tqdm 4.70), and a headless course run sets it so that no
    bar is saved in the executed copies. `options` go to tqdm (desc, total, leave).
    """
    off = os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
    return tqdm(iterable, disable=off or not progress, **options)
