"""Our weights file format: one torch.save'd dict, read back with weights_only=True.

``{"model": "yolo"|"centernet", "size": str, "class_names": [str, ...],
"state_dict": {name: tensor}}``. No pickled objects, only tensors, strings and
lists, so ``torch.load(..., weights_only=True)`` reads it. Reading checks the
family and the keys and names the file in every error.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

REQUIRED_KEYS = ("model", "size", "class_names", "state_dict")


def save_weights(path: str | Path, model: str, size: str, class_names, state_dict) -> Path:
    """Write atomically (temp file + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model, "size": size, "class_names": [str(c) for c in class_names],
               "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_torch_file(path: str | Path) -> dict:
    """torch.load with weights_only=True; clear errors for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: not a torch weights file of tensors "
                         "(read with weights_only=True; pickled objects are refused)") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch weights file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict at the top level, got {type(data).__name__}")
    return data


def load_weights(path: str | Path, model: str) -> dict:
    """Read one of our weights files and check it is of family ``model``."""
    data = read_torch_file(path)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: not a streamdet {model} weights file "
                         f"(missing keys {missing}; expected {list(REQUIRED_KEYS)})")
    if data["model"] != model:
        raise ValueError(f"{path}: holds a {data['model']!r} model, expected {model!r}")
    return data


def load_state(net, state: dict | None, path, what: str):
    """Load ``state`` into ``net`` (if any) and return it in eval mode; a misfit names the file."""
    if state is not None:
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path}: does not fit {what}: {str(exc).splitlines()[1:3]}") from None
    return net.eval()


def checked_size(data: dict, size: str | None, path, label: str) -> str:
    """The size a weights file holds; a mismatch with the size asked for names the file."""
    if size is not None and data["size"] != size:
        raise ValueError(f"{path}: holds {label} size {data['size']!r}, expected {size!r}")
    return data["size"]
