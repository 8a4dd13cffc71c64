"""What the trainer needs per model family: the net, its input spec, its loss, its defaults.

Each family turns a batch of ``Sample``s (boxes in network-input pixels) into
its own targets and loss, so the trainer itself is family-agnostic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from engines.core.spec import PreprocessSpec


@dataclass(frozen=True)
class Family:
    name: str
    sizes: tuple[str, ...]
    build: Callable[[int, str], nn.Module]                 # (num_classes, size) -> net
    spec: Callable[[str], PreprocessSpec]
    loss: Callable[[object, list, int], tuple[torch.Tensor, dict]]   # (outputs, samples, C)
    lr: float
    weight_decay: float
    init: Callable[[nn.Module, str], str | None] = lambda net, size: None   # -> what was loaded


def _yolo_loss(outputs, samples, num_classes: int):
    from engines.training.yolo_loss import YoloTargets, yolo_loss
    m = max([len(s.boxes) for s in samples] + [1])
    boxes = np.zeros((len(samples), m, 4), np.float32)
    labels = np.full((len(samples), m), -1, np.int64)
    for i, s in enumerate(samples):
        boxes[i, :len(s.boxes)] = s.boxes
        labels[i, :len(s.labels)] = s.labels
    labels_t = torch.from_numpy(labels)
    targets = YoloTargets(torch.from_numpy(boxes), labels_t, labels_t >= 0)
    return yolo_loss(outputs, targets)


def _centernet_loss(outputs, samples, num_classes: int):
    from engines.training.centernet_loss import centernet_loss
    from engines.training.centernet_targets import build_targets
    out_h, out_w = outputs[0].shape[-2:]
    targets = build_targets([s.boxes for s in samples], [s.labels for s in samples],
                            num_classes, out_h, out_w)
    return centernet_loss(outputs, targets)


def _yolo_build(num_classes: int, size: str) -> nn.Module:
    from engines.nets.yolo import YoloNet
    return YoloNet(num_classes, size)


def _centernet_build(num_classes: int, size: str) -> nn.Module:
    from engines.nets.centernet import CenterNetNet
    return CenterNetNet(num_classes, size)


def _centernet_init(net: nn.Module, size: str) -> str | None:
    """CenterNet sizes built on YOLO features start from the shipped YOLO weights of that size."""
    from engines.detectors import default_weights
    from engines.nets.weights_file import load_weights
    if net.cfg.backbone == "resnet":
        return None
    path = default_weights("yolo", net.cfg.backbone)
    if path is None:
        return None
    net.load_yolo_features(load_weights(path, "yolo")["state_dict"])
    return f"backbone and neck from {path}"


def _yolo_spec(size: str) -> PreprocessSpec:
    from engines.detectors.yolo import yolo_spec
    return yolo_spec(size)


def _centernet_spec(size: str) -> PreprocessSpec:
    from engines.detectors.centernet import centernet_spec
    return centernet_spec(size)


FAMILIES = {
    "yolo": Family("yolo", ("tiny", "n"), _yolo_build, _yolo_spec, _yolo_loss, 2e-3, 5e-4),
    "centernet": Family("centernet", ("tiny", "r18"), _centernet_build, _centernet_spec,
                        _centernet_loss, 1e-3, 1e-4, _centernet_init),
}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"cannot train model {name!r}; trainable models: {sorted(FAMILIES)}")
    return FAMILIES[name]
