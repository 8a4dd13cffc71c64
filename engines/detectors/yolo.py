"""YOLO detector, torch-free half: our anchor-free YoloNet's input spec, class names and decoding.

Input: RGB, pixels / 255, centred letterbox padded with 114 (as Ultralytics).
Output ``output0``: (B, 4 + C, N) in the YOLOv8 export layout, decoded by the
shared ``yolo_decode`` op, so our models and users' v8 exports decode alike.
The network and the weights file are engines/detectors/yolo_net.py's
(imported only by ``build_module`` and when a weights file must be read).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from engines.core.detections import Detections
from engines.core.labels import SYNTHETIC_CLASS_NAMES
from engines.core.spec import PreprocessSpec
from engines.detectors.base import Detector, optional_path, path_text
from engines.nets.sizes import yolo_size
from engines.ops.arrays import to_host


def yolo_spec(size: str) -> PreprocessSpec:
    side = yolo_size(size).input_size
    return PreprocessSpec(height=side, width=side, channel_order="rgb", pad_value=114)


class YoloDetector(Detector):
    name = "yolo"
    card_type = "yolo"
    output_names = ("output0",)

    def __init__(self, size: str | None = "tiny", weights: str | Path | None = None,
                 class_names: Sequence[str] | None = None, *, onnx_path: str | Path | None = None,
                 check: bool = True) -> None:
        """``weights``: our torch weights file, read and checked now (needs torch) unless
        ``check`` is False (a card or a shipped model: nothing is read until ``build_module``)."""
        self.weights_path, self.onnx_path = optional_path(weights), optional_path(onnx_path)
        self._state = None
        if self.weights_path is not None and check:
            from engines.detectors.yolo_net import read_yolo_weights
            size, file_names, self._state = read_yolo_weights(self.weights_path, size)
            if class_names is not None and len(class_names) != len(file_names):
                raise ValueError(f"{weights}: trained for {len(file_names)} classes, "
                                 f"but {len(class_names)} class names were given")
            class_names = class_names or file_names
        self.size = size or "tiny"
        yolo_size(self.size)
        self.class_names = tuple(class_names or SYNTHETIC_CLASS_NAMES)
        self.spec = yolo_spec(self.size)
        if self._state is not None:
            self.build_net()        # fail now, naming the file, if the weights do not fit

    def build_net(self):
        """The bare YoloNet (eval mode, weights loaded when there are any)."""
        from engines.detectors.yolo_net import build_yolo_net
        return build_yolo_net(self)

    def build_module(self):
        from engines.detectors.yolo_net import TupleOutput
        return TupleOutput(self.build_net()).eval()

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        from engines.ops import backend
        xyxy, score, class_id = backend.yolo_decode(
            outputs["output0"][index], layout="v8", conf_threshold=conf_threshold,
            iou_threshold=iou_threshold, max_det=max_det)
        return Detections(to_host(xyxy), to_host(score), to_host(class_id), labels=self.class_names)

    def card(self) -> dict:
        return {"type": self.card_type, "size": self.size, "class_names": list(self.class_names),
                "weights": path_text(self.weights_path), "onnx": path_text(self.onnx_path)}

    @classmethod
    def from_card(cls, card: dict) -> "YoloDetector":
        return cls(card["size"], card["weights"], card["class_names"], onnx_path=card["onnx"], check=False)

    def describe(self) -> str:
        trained = "untrained" if self.weights_path is None and self.onnx_path is None else \
            str(self.onnx_path or self.weights_path)
        return f"yolo-{self.size} {self.spec.width}x{self.spec.height}, " \
               f"{len(self.class_names)} classes, weights {trained}"
