"""TorchvisionDetector: torchvision's detection models behind our Detector contract.

``TorchvisionDetector(name, size, weights)`` runs maskrcnn (R50-FPN; size 'v2'
for maskrcnn_resnet50_fpn_v2, 'tiny' for our small trained one), fasterrcnn
('v2', 'mobilenet', 'mobilenet_320'), retinanet ('v2'), fcos, ssd
(ssd300_vgg16), ssdlite (ssdlite320_mobilenet_v3_large) and keypointrcnn.

* Weights: a local torchvision-format checkpoint (see torchvision_checkpoint);
  the architecture is built with ``weights=None, weights_backbone=None`` (no
  downloads) and the class count read from the checkpoint's head. A 91-class
  head gets the COCO names (engines/core/labels.py). ``download=True`` lets torchvision
  fetch its own COCO weights instead; that needs a network connection and is
  not exercised by our tests (this machine is offline).
* Input: RGB on 0..1 (mean 0, std 1: the model's transform normalises with its
  own mean/std), centred letterbox to a square of the model's default
  ``min_size`` (800 for the R50/mobilenet FPN models, 300 ssd, 320 ssdlite and
  the tiny Mask R-CNN) or ``input_size``; the model's transform is set to that
  size, so it never resizes again.
* Outputs: fixed-shape padded tensors (torchvision_module.py); ``decode`` gives
  Detections in network-input pixels with ``class_id = torchvision label - 1``,
  Mask R-CNN masks pasted on the input canvas (N, H, W) bool, Keypoint R-CNN
  keypoints (N, 17, 3).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from engines.core.detections import Detections
from engines.core.labels import COCO_CLASS_NAMES, NUM_TORCHVISION_COCO_CLASSES, SYNTHETIC_CLASS_NAMES
from engines.core.spec import PreprocessSpec
from engines.detectors.base import Detector, optional_path, path_text
from engines.detectors.torchvision_archs import (Arch, architecture, classes_in_checkpoint,
                                                 keypoints_in_checkpoint, output_names)
from engines.ops.arrays import to_host

MAX_DETECTIONS = 100


def torchvision_spec(arch_name: str, input_size: int | None = None) -> PreprocessSpec:
    """RGB on 0..1 (torchvision's transform normalises itself), centred square letterbox."""
    side = int(input_size or architecture(arch_name).input_size)
    return PreprocessSpec(height=side, width=side, channel_order="rgb", pad_value=114)


def default_classes(arch: Arch) -> int:
    """num_classes (with background) of a model built without a checkpoint."""
    if arch.builder == "tiny":
        return 1 + len(SYNTHETIC_CLASS_NAMES)
    return 2 if arch.extra == "keypoints" else NUM_TORCHVISION_COCO_CLASSES


def default_names(arch: Arch, num_classes: int) -> tuple[str, ...]:
    """Class names for our class ids 0..num_classes-2 (torchvision labels 1..num_classes-1)."""
    if num_classes == NUM_TORCHVISION_COCO_CLASSES:
        return COCO_CLASS_NAMES
    if arch.extra == "keypoints" and num_classes == 2:
        return ("person",)
    if num_classes - 1 == len(SYNTHETIC_CLASS_NAMES):
        return tuple(SYNTHETIC_CLASS_NAMES)
    return tuple(f"class{i}" for i in range(num_classes - 1))


class TorchvisionDetector(Detector):
    card_type = "torchvision"
    graph_capturable = False           # data-dependent shapes (proposals, kept boxes) and host syncs

    def __init__(self, name: str = "maskrcnn", size: str | None = None,
                 weights: str | Path | None = None, class_names: Sequence[str] | None = None,
                 *, input_size: int | None = None, download: bool = False,
                 max_det: int = MAX_DETECTIONS, num_keypoints: int | None = None,
                 check: bool = True) -> None:
        """``check``: read the checkpoint now (needs torch) and build the model to fail early;
        a card (``check=False``) carries the class names and reads nothing."""
        if download and weights is not None:
            raise ValueError(f"{name}: give either weights={weights} or download=True, not both")
        state, meta = None, {}
        if weights is not None and check:
            from engines.detectors.torchvision_net import read_checkpoint
            state, meta = read_checkpoint(weights)
        size = self._check_meta(name, size, meta, weights)
        self.arch = architecture(name, size)
        self.family, self.name, self.size, self.max_det = name, self.arch.name, size, int(max_det)
        self.weights_path = optional_path(weights)
        self._state, self._download, self._model = state, download, None
        if state is not None:
            self.num_classes = classes_in_checkpoint(self.arch, state) or default_classes(self.arch)
            self.num_keypoints = keypoints_in_checkpoint(state)
        else:
            self.num_classes = len(class_names) + 1 if class_names and not check else \
                default_classes(self.arch)
            self.num_keypoints = num_keypoints or 17
        self.class_names = self._names(class_names, meta.get("class_names"))
        self.spec = torchvision_spec(self.arch.name, input_size)
        self.output_names = output_names(self.arch.extra)
        if check and (state is not None or download):
            self.build_module()     # fail now, naming the file, if the weights do not fit

    @staticmethod
    def _check_meta(name: str, size: str | None, meta: dict, weights) -> str | None:
        """Our weights files name their family and size; they must agree with the request."""
        if not meta:
            return size
        family = name.split("_")[0]
        if meta["model"] != family:
            raise ValueError(f"{weights}: holds a {meta['model']!r} model, expected {family!r}")
        if size is not None and meta.get("size") not in (None, size):
            raise ValueError(f"{weights}: holds {family} size {meta['size']!r}, expected {size!r}")
        return meta.get("size", size)

    def _names(self, given, from_file) -> tuple[str, ...]:
        names = tuple(given or from_file or default_names(self.arch, self.num_classes))
        if len(names) != self.num_classes - 1:
            source = self.weights_path or "the untrained model"
            raise ValueError(f"{source}: {self.arch.name} has {self.num_classes - 1} classes "
                             f"(+ background), but {len(names)} class names were given")
        return names

    def build_module(self):
        from engines.detectors.torchvision_net import build_fixed_outputs
        return build_fixed_outputs(self)

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        """Rows of image ``index`` above ``conf_threshold``, class-wise NMS at ``iou_threshold``
        (on top of the model's own NMS, so it can only remove more), at most ``max_det``."""
        from engines.ops.nms import batched_nms
        count = int(to_host(outputs["count"])[index])
        boxes = to_host(outputs["boxes"][index])[:count].astype(np.float32)
        scores = to_host(outputs["scores"][index])[:count].astype(np.float32)
        labels = to_host(outputs["labels"][index])[:count].astype(np.int64)
        rows = np.flatnonzero((scores >= conf_threshold) & (labels >= 1))
        rows = rows[batched_nms(boxes[rows], scores[rows], labels[rows], iou_threshold)][:max_det]
        dets = Detections(boxes[rows], scores[rows], labels[rows] - 1, labels=self.class_names)
        if self.arch.extra == "masks":
            from engines.ops.masks import paste_masks
            probs = to_host(outputs["masks"][index])[:count][rows]
            dets.mask = paste_masks(probs, dets.xyxy, self.spec.height, self.spec.width)
        elif self.arch.extra == "keypoints":
            dets.keypoints = to_host(outputs["keypoints"][index])[:count][rows]
        return dets

    def card(self) -> dict:
        return {"type": self.card_type, "name": self.family, "size": self.size,
                "weights": path_text(self.weights_path), "class_names": list(self.class_names),
                "input_size": self.spec.height, "max_det": self.max_det,
                "num_keypoints": self.num_keypoints, "download": self._download}

    @classmethod
    def from_card(cls, card: dict) -> "TorchvisionDetector":
        return cls(card["name"], card["size"], card["weights"], card["class_names"],
                   input_size=card["input_size"], download=card["download"], max_det=card["max_det"],
                   num_keypoints=card["num_keypoints"], check=False)

    def describe(self) -> str:
        weights = "COCO (torchvision download)" if self._download else \
            (self.weights_path or "untrained")
        return (f"{self.name} {self.spec.width}x{self.spec.height}, {len(self.class_names)} "
                f"classes, weights {weights}")
