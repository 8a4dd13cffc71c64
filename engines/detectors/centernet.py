"""CenterNet detector, torch-free half: input spec, class names and heatmap decoding.

Our own trained models take RGB input normalised with the ImageNet mean/std and
a centred letterbox padded with 114. ``official=True`` is an official CenterNet
'res_18' checkpoint with its preprocessing: BGR input, mean (0.408, 0.447,
0.470), std (0.289, 0.274, 0.278), black padding, 512x512. Outputs ``hm``
(logits), ``wh`` and ``reg`` at stride 4 are decoded by the shared
``centernet_decode`` op. Networks and weights files: centernet_net.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from engines.core.detections import Detections
from engines.core.labels import COCO80, SYNTHETIC_CLASS_NAMES
from engines.core.spec import PreprocessSpec
from engines.detectors.base import Detector, optional_path, path_text
from engines.nets.sizes import DOWN_RATIO, centernet_size
from engines.ops.arrays import to_host

OFFICIAL_MEAN = (0.408, 0.447, 0.470)
OFFICIAL_STD = (0.289, 0.274, 0.278)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
MAX_PEAKS = 100


def centernet_spec(size: str, official: bool = False) -> PreprocessSpec:
    side = centernet_size(size).input_size
    if official:
        return PreprocessSpec(side, side, OFFICIAL_MEAN, OFFICIAL_STD, "bgr", pad_value=0)
    return PreprocessSpec(side, side, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, "rgb", pad_value=114)


class CenterNetDetector(Detector):
    name = "centernet"
    card_type = "centernet"
    output_names = ("hm", "wh", "reg")

    def __init__(self, size: str | None = "tiny", weights: str | Path | None = None,
                 class_names: Sequence[str] | None = None, official: bool = False, *,
                 onnx_path: str | Path | None = None, check: bool = True) -> None:
        """``check``: read and check the weights file now (needs torch); a card skips it."""
        self.official, self._state, self._official_net = official, None, None
        self.weights_path, self.onnx_path = optional_path(weights), optional_path(onnx_path)
        if official and check:
            from engines.detectors.centernet_net import load_official
            size, self._official_net = load_official(self.weights_path, size, class_names)
            class_names = class_names or (COCO80 if self._official_net.num_classes == 80 else None)
        elif self.weights_path is not None and check:
            from engines.detectors.centernet_net import read_centernet_weights
            size, file_names, self._state = read_centernet_weights(self.weights_path, size)
            class_names = class_names or file_names
        self.size = size or ("r18" if official else "tiny")
        centernet_size(self.size)
        self.class_names = tuple(class_names or SYNTHETIC_CLASS_NAMES)
        self.spec = centernet_spec(self.size, official)
        if self._state is not None:
            self.build_module()     # fail now, naming the file, if the weights do not fit

    def build_module(self):
        from engines.detectors.centernet_net import build_centernet_module
        return build_centernet_module(self)

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        """Peaks of the heatmap (no NMS: ``iou_threshold`` is unused by CenterNet)."""
        from engines.ops import backend
        xyxy, score, class_id = backend.centernet_decode(
            outputs["hm"][index], outputs["wh"][index], outputs["reg"][index],
            k=min(max_det, MAX_PEAKS), down_ratio=DOWN_RATIO, score_threshold=conf_threshold)
        return Detections(to_host(xyxy), to_host(score), to_host(class_id), labels=self.class_names)

    def card(self) -> dict:
        return {"type": self.card_type, "size": self.size, "class_names": list(self.class_names),
                "weights": path_text(self.weights_path), "onnx": path_text(self.onnx_path),
                "official": self.official}

    @classmethod
    def from_card(cls, card: dict) -> "CenterNetDetector":
        return cls(card["size"], card["weights"], card["class_names"], bool(card["official"]),
                   onnx_path=card["onnx"], check=False)

    def describe(self) -> str:
        kind = "official " if self.official else ""
        trained = "untrained" if self.weights_path is None and self.onnx_path is None else \
            str(self.onnx_path or self.weights_path)
        return f"{kind}centernet-{self.size} {self.spec.width}x{self.spec.height}, " \
               f"{len(self.class_names)} classes, weights {trained}"
