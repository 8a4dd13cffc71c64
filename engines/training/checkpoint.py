"""Training checkpoints: model, EMA, optimizer, step and RNG states in one weights_only file.

Written atomically to ``<out>/last.pt`` (temp file + rename) so an interrupted
run never leaves a torn checkpoint; ``resume=True`` reads it back.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

CHECKPOINT_NAME = "last.pt"
REQUIRED = ("model", "size", "step", "seed", "state_dict", "ema", "optimizer", "rng")


def checkpoint_path(out: str | Path) -> Path:
    return Path(out) / CHECKPOINT_NAME


def save_checkpoint(out: str | Path, state: dict) -> Path:
    path = checkpoint_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(out: str | Path, model: str, size: str) -> dict:
    """Read ``<out>/last.pt`` and check it belongs to this model family and size."""
    path = checkpoint_path(out)
    if not path.is_file():
        raise FileNotFoundError(f"resume: no checkpoint at {path}; train without resume first")
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"{path}: not a streamdet training checkpoint (missing {missing})")
    if (state["model"], state["size"]) != (model, size):
        raise ValueError(f"{path}: checkpoint of {state['model']} {state['size']}, "
                         f"cannot resume {model} {size}")
    return state
