"""Reading torchvision-format detection checkpoints and checking them against an architecture.

Accepted files (all read with ``torch.load(..., weights_only=True)``):
a bare state_dict (torchvision's published ``*.pth``), ``{"model": state_dict}``,
``{"state_dict": state_dict}`` (a leading ``module.`` from DataParallel is
dropped), and our own weights format (``{"model": "maskrcnn", "size": ...,
"class_names": [...], "state_dict": ...}``), whose metadata is returned too.
A file that does not fit the architecture raises ValueError naming the file
and the first few missing, unexpected and shape-mismatched keys.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from engines.nets.weights_file import read_torch_file

SHOWN_KEYS = 4
BN_COUNTER = "num_batches_tracked"


def read_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """-> (state_dict, metadata); metadata holds 'model', 'size', 'class_names' for our files."""
    data = read_torch_file(path)
    if isinstance(data.get("model"), str):
        if not isinstance(data.get("state_dict"), dict):
            raise ValueError(f"{path}: a streamdet weights file without a 'state_dict' dict")
        meta = {k: data[k] for k in ("model", "size", "class_names") if k in data}
        return data["state_dict"], meta
    for key in ("model", "state_dict"):
        if isinstance(data.get(key), dict):
            return _strip_module_prefix(data[key]), {}
    if data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return _strip_module_prefix(data), {}
    raise ValueError(f"{path}: expected a state_dict, {{'model': state_dict}} or "
                     f"{{'state_dict': state_dict}}; top-level keys are {list(data)[:8]}")


def _strip_module_prefix(state: dict) -> dict:
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _shown(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
    return f"{keys[:SHOWN_KEYS]}{more}"


def load_into(model: nn.Module, state: dict, path, what: str, eps_zero_bn: bool = False) -> None:
    """Load ``state`` into ``model`` or raise ValueError listing what does not fit.

    Missing BatchNorm ``num_batches_tracked`` counters are allowed: torchvision's
    published weights come from FrozenBatchNorm2d, which has none; those layers
    then get torchvision's eps (0 when ``eps_zero_bn``, as its COCO weights run).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(BN_COUNTER)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or mismatched:
        parts = [f"{label} {_shown(keys)}" for label, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected),
                  ("mismatched shapes", mismatched)) if keys]
        raise ValueError(f"{path}: does not fit {what}: " + "; ".join(parts))
    model.load_state_dict(state, strict=False)
    if eps_zero_bn:
        _frozen_bn_eps(model, state)


def _frozen_bn_eps(model: nn.Module, state: dict) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d) and f"{name}.{BN_COUNTER}" not in state:
            module.eps = 0.0
