"""Seeding a run: random, NumPy and torch seeded, torch made deterministic where it can be, and notes on
what could not be."""

from __future__ import annotations

import os
import random
import sys
from typing import Any

from gerhard.errors import UserError


def seed_everything(seed: int) -> list[str]:
    """Seed random, NumPy and torch (CPU and CUDA); make torch deterministic where it can. Returns notes
    on what could not be made deterministic."""
    notes: list[str] = []
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass
    if os.environ.get("PYTHONHASHSEED") is None:
        notes.append("PYTHONHASHSEED is not set: the order of sets of strings can differ between processes")
    torch = sys.modules.get("torch")
    if torch is None:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            import torch
    if torch is None:
        return notes
    torch.manual_seed(seed)  # seeds CUDA as well
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            notes.append(
                "CUDA was initialised before start_run: cuBLAS may not be deterministic "
                "(set CUBLAS_WORKSPACE_CONFIG=:4096:8 before importing torch)"
            )
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except Exception as e:  # an old torch
        notes.append(f"torch.use_deterministic_algorithms failed: {e}")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return notes


MAX_SEED = 2**64 - 1  # torch.manual_seed takes no more, and seed.txt holds at most 20 digits


def resolve_seed(seed: Any) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(4), "big")  # recorded in seed.txt: the run stays reproducible
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"start_run: seed={_shown(seed)} is not a whole number >= 0")
    if seed > MAX_SEED:
        raise UserError(f"start_run: seed={_shown(seed)} is over 2**64-1 ({MAX_SEED}), the most torch takes: pass less")
    return seed


def _shown(seed: Any) -> str:
    """The seed as the message shows it: a huge integer by its size (its digits could be thousands)."""
    if isinstance(seed, int) and not isinstance(seed, bool) and abs(seed) > MAX_SEED:
        return f"{'-' if seed < 0 else ''}<an integer of {abs(seed).bit_length()} bits>"
    try:
        text = repr(seed)
    except Exception:  # a repr that fails: the message still says what to pass
        text = f"<a {type(seed).__name__}>"
    return text if len(text) <= 80 else text[:80] + "…"
