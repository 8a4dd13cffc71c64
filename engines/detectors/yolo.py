"""YOLO detector: our anchor-free YoloNet, its input spec, weights and decoding.

Input: RGB, pixels / 255, centred letterbox padded with 114 (as Ultralytics).
Output ``output0``: (B, 4 + C, N) in the YOLOv8 export layout, decoded by the
shared ``yolo_decode`` op, so our models and users' v8 exports decode alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from torch import nn

from engines.detectors.base import Detector
from engines.detectors.spec import PreprocessSpec
from engines.nets.weights_file import checked_size, load_state, load_weights
from engines.nets.yolo import YoloNet, yolo_size
from pipeline.detections import Detections


def yolo_spec(size: str) -> PreprocessSpec:
    side = yolo_size(size).input_size
    return PreprocessSpec(height=side, width=side, channel_order="rgb", pad_value=114)


def host_array(x):
    """NumPy view of a NumPy, CuPy or torch result (Detections hold NumPy arrays)."""
    if hasattr(x, "get") and not isinstance(x, np.ndarray):
        return x.get()
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def default_class_names() -> tuple[str, ...]:
    from pipeline.sources.synthetic import CLASS_NAMES
    return tuple(CLASS_NAMES)


class TupleOutput(nn.Module):
    """Wraps a single-output net so forward returns a 1-tuple (the engines' contract)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return (self.net(x),)


class YoloDetector(Detector):
    name = "yolo"
    output_names = ("output0",)

    def __init__(self, size: str | None = "tiny", weights: str | Path | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        self._state = None
        file_names = None
        if weights is not None:
            data = load_weights(weights, "yolo")
            size = checked_size(data, size, weights, "YOLO")
            file_names, self._state = data["class_names"], data["state_dict"]
            self.weights_path = Path(weights)
        self.size = size or "tiny"
        yolo_size(self.size)
        self.class_names = tuple(class_names or file_names or default_class_names())
        if file_names is not None and len(self.class_names) != len(file_names):
            raise ValueError(f"{weights}: trained for {len(file_names)} classes, "
                             f"but {len(self.class_names)} class names were given")
        self.spec = yolo_spec(self.size)
        if self._state is not None:
            self.build_net()        # fail now, naming the file, if the weights do not fit

    def build_net(self) -> YoloNet:
        """The bare YoloNet (eval mode, weights loaded when there are any)."""
        return load_state(YoloNet(len(self.class_names), self.size), self._state, self.weights_path,
                          f"YOLO {self.size} with {len(self.class_names)} classes")

    def build_module(self) -> nn.Module:
        return TupleOutput(self.build_net()).eval()

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        from engines.ops import backend
        pred = outputs["output0"][index]
        xyxy, score, class_id = backend.yolo_decode(
            pred, layout="v8", conf_threshold=conf_threshold, iou_threshold=iou_threshold,
            max_det=max_det)
        return Detections(host_array(xyxy), host_array(score), host_array(class_id),
                          labels=self.class_names)

    def describe(self) -> str:
        trained = "untrained" if self.weights_path is None else str(self.weights_path)
        return f"yolo-{self.size} {self.spec.width}x{self.spec.height}, " \
               f"{len(self.class_names)} classes, weights {trained}"
