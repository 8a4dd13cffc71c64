"""TorchvisionDetector: torchvision's detection models behind our Detector contract.

``TorchvisionDetector(name, size, weights)`` runs maskrcnn (R50-FPN; size 'v2'
for maskrcnn_resnet50_fpn_v2, 'tiny' for our small trained one), fasterrcnn
('v2', 'mobilenet', 'mobilenet_320'), retinanet ('v2'), fcos, ssd
(ssd300_vgg16), ssdlite (ssdlite320_mobilenet_v3_large) and keypointrcnn.

* Weights: a local torchvision-format checkpoint (see torchvision_checkpoint);
  the architecture is built with ``weights=None, weights_backbone=None`` (no
  downloads) and the class count read from the checkpoint's head. A 91-class
  head gets the COCO names (coco_labels.py). ``download=True`` lets torchvision
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

from engines.detectors.base import Detector
from engines.detectors.coco_labels import COCO_CLASS_NAMES, NUM_TORCHVISION_COCO_CLASSES
from engines.detectors.spec import PreprocessSpec
from engines.detectors.torchvision_archs import (FAMILIES, Arch, architecture,
                                                 build_architecture, classes_in_checkpoint,
                                                 keypoints_in_checkpoint)
from engines.detectors.torchvision_checkpoint import load_into, read_checkpoint
from engines.detectors.torchvision_module import (FixedOutputs, fit_transform_to_input,
                                                  output_names, set_max_detections)
from engines.detectors.yolo import host_array
from pipeline.detections import Detections

MAX_DETECTIONS = 100


def torchvision_spec(arch_name: str, input_size: int | None = None) -> PreprocessSpec:
    """RGB on 0..1 (torchvision's transform normalises itself), centred square letterbox."""
    side = int(input_size or architecture(arch_name).input_size)
    return PreprocessSpec(height=side, width=side, channel_order="rgb", pad_value=114)


def default_classes(arch: Arch) -> int:
    """num_classes (with background) of a model built without a checkpoint."""
    if arch.builder == "tiny":
        from pipeline.sources.synthetic import CLASS_NAMES
        return 1 + len(CLASS_NAMES)
    return 2 if arch.extra == "keypoints" else NUM_TORCHVISION_COCO_CLASSES


def default_names(arch: Arch, num_classes: int) -> tuple[str, ...]:
    """Class names for our class ids 0..num_classes-2 (torchvision labels 1..num_classes-1)."""
    from pipeline.sources.synthetic import CLASS_NAMES
    if num_classes == NUM_TORCHVISION_COCO_CLASSES:
        return COCO_CLASS_NAMES
    if arch.extra == "keypoints" and num_classes == 2:
        return ("person",)
    if num_classes - 1 == len(CLASS_NAMES):
        return tuple(CLASS_NAMES)
    return tuple(f"class{i}" for i in range(num_classes - 1))


class TorchvisionDetector(Detector):
    def __init__(self, name: str = "maskrcnn", size: str | None = None,
                 weights: str | Path | None = None, class_names: Sequence[str] | None = None,
                 *, input_size: int | None = None, download: bool = False,
                 max_det: int = MAX_DETECTIONS) -> None:
        if download and weights is not None:
            raise ValueError(f"{name}: give either weights={weights} or download=True, not both")
        state, meta = (None, {}) if weights is None else read_checkpoint(weights)
        size = self._check_meta(name, size, meta, weights)
        self.arch = architecture(name, size)
        self.name, self.size, self.max_det = self.arch.name, size, int(max_det)
        self.weights_path = None if weights is None else Path(weights)
        self._state, self._download = state, download
        self.num_classes = (classes_in_checkpoint(self.arch, state) if state else None) or \
            default_classes(self.arch)
        self.num_keypoints = keypoints_in_checkpoint(state) if state else 17
        self.class_names = self._names(class_names, meta.get("class_names"))
        self.spec = torchvision_spec(self.arch.name, input_size)
        self.output_names = output_names(self.arch.extra)
        self._model = self._build_model() if state is not None or download else None

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

    def _build_model(self):
        arch = self.arch
        model = build_architecture(arch, self.num_classes, self.num_keypoints, self._download)
        if self._state is not None:
            what = f"torchvision {arch.name} with {self.num_classes} classes (background included)"
            load_into(model, self._state, self.weights_path, what, arch.eps_zero_bn)
        fit_transform_to_input(model, self.spec.height)
        set_max_detections(model, self.max_det)
        return model.eval()

    def build_module(self):
        if self._model is None:
            self._model = self._build_model()
        return FixedOutputs(self._model, self.arch.two_stage, self.arch.extra, self.max_det).eval()

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        """Rows of image ``index`` above ``conf_threshold``, class-wise NMS at ``iou_threshold``
        (on top of the model's own NMS, so it can only remove more), at most ``max_det``."""
        from engines.ops.nms import batched_nms
        count = int(host_array(outputs["count"])[index])
        boxes = host_array(outputs["boxes"][index])[:count].astype(np.float32)
        scores = host_array(outputs["scores"][index])[:count].astype(np.float32)
        labels = host_array(outputs["labels"][index])[:count].astype(np.int64)
        rows = np.flatnonzero((scores >= conf_threshold) & (labels >= 1))
        rows = rows[batched_nms(boxes[rows], scores[rows], labels[rows], iou_threshold)][:max_det]
        dets = Detections(boxes[rows], scores[rows], labels[rows] - 1, labels=self.class_names)
        if self.arch.extra == "masks":
            from engines.detectors.maskrcnn import paste_masks
            probs = host_array(outputs["masks"][index])[:count][rows]
            dets.mask = paste_masks(probs, dets.xyxy, self.spec.height, self.spec.width)
        elif self.arch.extra == "keypoints":
            dets.keypoints = host_array(outputs["keypoints"][index])[:count][rows]
        return dets

    def describe(self) -> str:
        weights = "COCO (torchvision download)" if self._download else \
            (self.weights_path or "untrained")
        return (f"{self.name} {self.spec.width}x{self.spec.height}, {len(self.class_names)} "
                f"classes, weights {weights}")


def make_torchvision_detector(name: str):
    """A registry factory (weights, size, class_names) -> TorchvisionDetector for ``name``."""
    def factory(weights, size, class_names):
        return TorchvisionDetector(name, size=size, weights=weights, class_names=class_names)
    return factory


def register_torchvision_detectors() -> None:
    """Register every family with engines.detectors (maskrcnn gets its shipped-default factory)."""
    from engines.detectors import register_detector
    from engines.detectors.maskrcnn import make_maskrcnn
    for family in FAMILIES:
        register_detector(family, make_maskrcnn if family == "maskrcnn"
                          else make_torchvision_detector(family))
