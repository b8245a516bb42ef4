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


def resolve_seed(seed: Any) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(4), "big")  # recorded in seed.txt: the run stays reproducible
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"start_run: seed={seed!r} is not a whole number >= 0")
    return seed
