"""The torchvision detection architectures we run: how to build each and read its class count.

The table and the checkpoint readers need no torch; ``build_architecture`` imports torchvision.

Each entry names a torchvision builder (always called with ``weights=None,
weights_backbone=None`` unless the user asks for a download), the square input
side we letterbox to (torchvision's default ``min_size`` for that model), the
state-dict key whose first dimension is ``num_classes * per_class`` (so a
checkpoint tells us its class count), and what extra outputs it has.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

RCNN_CLASS_KEY = "roi_heads.box_predictor.cls_score.weight"
KEYPOINT_KEY = "roi_heads.keypoint_predictor.kps_score_lowres.weight"
DENSE_CLASS_KEY = "head.classification_head.cls_logits.weight"


@dataclass(frozen=True)
class Arch:
    name: str
    builder: str              # function in torchvision.models.detection, or "tiny"
    input_size: int           # letterbox side
    class_key: str
    per_class: int            # anchors per location sharing the class dimension
    two_stage: bool           # RPN + RoI heads (outputs read from the internals)
    extra: str = ""           # "masks" | "keypoints" | ""
    eps_zero_bn: bool = False  # torchvision's official weights run their BatchNorms with eps 0


def _rcnn(name, builder, size=800, extra="", eps_zero=False) -> Arch:
    return Arch(name, builder, size, RCNN_CLASS_KEY, 1, True, extra, eps_zero)


ARCHITECTURES: dict[str, Arch] = {a.name: a for a in (
    _rcnn("maskrcnn", "maskrcnn_resnet50_fpn", extra="masks", eps_zero=True),
    _rcnn("maskrcnn_v2", "maskrcnn_resnet50_fpn_v2", extra="masks"),
    _rcnn("maskrcnn_tiny", "tiny", 320, extra="masks"),
    _rcnn("fasterrcnn", "fasterrcnn_resnet50_fpn", eps_zero=True),
    _rcnn("fasterrcnn_v2", "fasterrcnn_resnet50_fpn_v2"),
    _rcnn("fasterrcnn_mobilenet", "fasterrcnn_mobilenet_v3_large_fpn"),
    _rcnn("fasterrcnn_mobilenet_320", "fasterrcnn_mobilenet_v3_large_320_fpn", 320),
    _rcnn("keypointrcnn", "keypointrcnn_resnet50_fpn", extra="keypoints", eps_zero=True),
    Arch("retinanet", "retinanet_resnet50_fpn", 800, DENSE_CLASS_KEY, 9, False, eps_zero_bn=True),
    Arch("retinanet_v2", "retinanet_resnet50_fpn_v2", 800, DENSE_CLASS_KEY, 9, False),
    Arch("fcos", "fcos_resnet50_fpn", 800, DENSE_CLASS_KEY, 1, False),
    Arch("ssd", "ssd300_vgg16", 300, "head.classification_head.module_list.0.weight", 4, False),
    Arch("ssdlite", "ssdlite320_mobilenet_v3_large", 320,
         "head.classification_head.module_list.0.1.weight", 6, False),
)}

BASE_OUTPUTS = ("boxes", "scores", "labels", "count")
FAMILIES = ("maskrcnn", "fasterrcnn", "retinanet", "ssd", "ssdlite", "fcos", "keypointrcnn")


def output_names(extra: str) -> tuple[str, ...]:
    """The raw outputs of a wrapped model (torchvision_module.FixedOutputs), extra: masks | keypoints."""
    return BASE_OUTPUTS + ((extra,) if extra else ())


def architecture(name: str, size: str | None = None) -> Arch:
    """``name`` plus an optional variant ``size`` ('v2', 'tiny', 'mobilenet', ...) -> Arch."""
    full = name if size in (None, "", "default", "r50") else f"{name}_{size}"
    if full not in ARCHITECTURES:
        raise ValueError(f"unknown torchvision architecture {full!r}; "
                         f"known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[full]


def build_architecture(arch: Arch, num_classes: int, num_keypoints: int = 17,
                       download: bool = False) -> nn.Module:
    """The torchvision model (no weights, or torchvision's COCO weights when ``download``)."""
    if arch.builder == "tiny":
        if download:
            raise ValueError(f"{arch.name}: has no downloadable weights (train it instead)")
        from engines.detectors.maskrcnn_tiny import build_tiny_maskrcnn
        return build_tiny_maskrcnn(num_classes)
    import torchvision.models.detection as detection
    builder = getattr(detection, arch.builder)
    kwargs = {"num_keypoints": num_keypoints} if arch.extra == "keypoints" else {}
    if download:       # torchvision fetches its COCO checkpoint; needs a network connection
        return builder(weights="DEFAULT", **kwargs)
    return builder(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)


def classes_in_checkpoint(arch: Arch, state: dict) -> int | None:
    """num_classes (background included) from the head's shape, None when the key is absent."""
    weight = state.get(arch.class_key)
    if weight is None or weight.ndim < 1 or weight.shape[0] % arch.per_class:
        return None
    return int(weight.shape[0]) // arch.per_class


def keypoints_in_checkpoint(state: dict) -> int:
    weight = state.get(KEYPOINT_KEY)
    return 17 if weight is None or weight.ndim < 2 else int(weight.shape[1])
