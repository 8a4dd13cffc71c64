"""Load an official CenterNet ResNet-18 checkpoint ('res_18', msra_resnet) into CenterNetNet.

The official file is a dict with ``epoch`` and ``state_dict`` (keys possibly
prefixed ``module.`` from DataParallel). Its key names already match our
module (``conv1``, ``bn1``, ``layer1..4``, ``deconv_layers.N``, ``hm.0/hm.2``,
``wh.0/wh.2``, ``reg.0/reg.2``), so mapping is: strip the prefix, check every
key and shape, and fail with one clear message naming the file otherwise.
BatchNorm ``num_batches_tracked`` counters are optional (older checkpoints
lack them).
"""
from __future__ import annotations

from pathlib import Path

import torch

from engines.nets.centernet import CenterNetNet
from engines.nets.weights_file import read_torch_file

SHOW = 5


def _strip_prefix(state: dict) -> dict:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def official_state_dict(path: str | Path) -> dict:
    """The checkpoint's state dict with 'module.' prefixes removed."""
    data = read_torch_file(path)
    state = data.get("state_dict", data)
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path}: expected an official CenterNet checkpoint with a "
                         f"'state_dict' dict of tensors")
    return _strip_prefix(state)


def official_num_classes(state: dict, path: str | Path) -> int:
    weight = state.get("hm.2.weight")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise ValueError(f"{path}: no 'hm.2.weight' conv weight; not an official CenterNet "
                         f"ResNet checkpoint")
    return int(weight.shape[0])


def _mismatch_report(state: dict, expected: dict) -> str:
    def optional(k: str) -> bool:
        return k.endswith("num_batches_tracked")
    missing = [k for k in expected if k not in state and not optional(k)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatches", shapes)):
        if items:
            more = f" (+{len(items) - SHOW} more)" if len(items) > SHOW else ""
            parts.append(f"{title} {items[:SHOW]}{more}")
    return "; ".join(parts)


def load_official_centernet(path: str | Path, num_classes: int | None = None,
                            size: str = "r18") -> CenterNetNet:
    """Build CenterNetNet(size) and load the official checkpoint at ``path`` into it."""
    state = official_state_dict(path)
    num_classes = num_classes or official_num_classes(state, path)
    net = CenterNetNet(num_classes, size)
    expected = net.state_dict()
    report = _mismatch_report(state, expected)
    if report:
        raise ValueError(f"{path}: does not fit CenterNet {size} with {num_classes} classes: "
                         f"{report}")
    net.load_state_dict(state, strict=False)
    return net.eval()
