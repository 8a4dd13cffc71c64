"""YOLO detector, network half (torch): read our weights file, build YoloNet with them loaded."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from engines.nets.weights_file import checked_size, load_state, load_weights
from engines.nets.yolo import YoloNet


class TupleOutput(nn.Module):
    """Wraps a single-output net so forward returns a 1-tuple (the engines' contract)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return (self.net(x),)


def read_yolo_weights(path: Path, size: str | None) -> tuple[str, list[str], dict]:
    """(size, class names, state dict) of one of our YOLO weights files; checks family and size."""
    data = load_weights(path, "yolo")
    return checked_size(data, size, path, "YOLO"), data["class_names"], data["state_dict"]


def build_yolo_net(detector) -> YoloNet:
    """The detector's YoloNet in eval mode, its weights file (if any) loaded and checked."""
    state = detector._state
    if state is None and detector.weights_path is not None:
        _, names, state = read_yolo_weights(detector.weights_path, detector.size)
        if len(names) != len(detector.class_names):
            raise ValueError(f"{detector.weights_path}: trained for {len(names)} classes, "
                             f"but {len(detector.class_names)} class names were given")
    what = f"YOLO {detector.size} with {len(detector.class_names)} classes"
    return load_state(YoloNet(len(detector.class_names), detector.size), state, detector.weights_path, what)
