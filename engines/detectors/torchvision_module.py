"""A torchvision detection model as an engine module: batched input in, fixed-shape tensors out.

Engines run ``forward(x (B, 3, H, W))`` and expect arrays with a batch axis, so
the variable-length per-image results are padded to ``K = max_det`` rows:

* ``boxes (B, K, 4)`` float, xyxy in input pixels; ``scores (B, K)``;
  ``labels (B, K)`` int64 torchvision labels (0 = background, never emitted);
  ``count (B,)`` int64 valid rows per image (the rest is zeros);
* Mask R-CNN adds ``masks (B, K, 28, 28)``: mask probabilities of each
  detection's own class over its box, BEFORE pasting into the image;
* Keypoint R-CNN adds ``keypoints (B, K, P, 3)``: x, y, and the keypoint's
  heatmap score (torchvision's ``keypoints_scores``, a logit) in the third slot.

Two-stage models are run through their parts (transform -> backbone -> rpn ->
roi_heads) so the masks stay unpasted; one-stage models (RetinaNet, FCOS, SSD)
through their own forward. The transform is set to the input size, so it only
normalises; boxes are mapped back through any resize anyway.

ONNX: the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``,
opset 17) exports the tiny Mask R-CNN for a fixed batch size and input size and
onnxruntime matches torch (tests/engines/detectors/test_maskrcnn.py); padding
uses tensor ops only so the traced graph keeps per-image counts dynamic. The
dynamo exporter fails on torchvision's ``batched_nms`` (a Python branch on a
data-dependent box count), so use the TorchScript one for these models.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.transform import resize_boxes, resize_keypoints

from engines.detectors.torchvision_archs import output_names


def fit_transform_to_input(model: nn.Module, side: int) -> None:
    """Make the model's own resize a no-op for (side x side) inputs (it still normalises)."""
    transform = model.transform
    transform.min_size = (int(side),)
    transform.max_size = int(side)
    if getattr(transform, "fixed_size", None) is not None:
        transform.fixed_size = (int(side), int(side))


def set_max_detections(model: nn.Module, max_det: int) -> None:
    holder = model.roi_heads if hasattr(model, "roi_heads") else model
    holder.detections_per_img = int(max_det)


class FixedOutputs(nn.Module):
    """Wraps a torchvision detector; forward returns the tuple named by ``output_names(extra)``."""

    def __init__(self, model: nn.Module, two_stage: bool, extra: str, max_det: int) -> None:
        super().__init__()
        self.model = model.eval()
        self.two_stage, self.extra, self.max_det = two_stage, extra, int(max_det)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images = list(x.unbind(0))
        detections = self._two_stage(images) if self.two_stage else self.model(images)
        return pad_detections(detections, self.max_det, self.extra)

    def _two_stage(self, images: list[torch.Tensor]) -> list[dict]:
        model = self.model
        batch, _ = model.transform(images)
        features = model.backbone(batch.tensors)
        proposals, _ = model.rpn(batch, features)
        detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
        for det, resized, image in zip(detections, batch.image_sizes, images):
            size = (int(image.shape[-2]), int(image.shape[-1]))
            det["boxes"] = resize_boxes(det["boxes"], resized, size)
            if "keypoints" in det:
                det["keypoints"] = resize_keypoints(det["keypoints"], resized, size)
        return detections


def pad_detections(detections: list[dict], k: int, extra: str) -> tuple[torch.Tensor, ...]:
    """Per-image result dicts -> the fixed-shape output tuple, zeros past each image's count."""
    columns = {name: [] for name in output_names(extra)}
    for det in detections:
        columns["boxes"].append(_padded(det["boxes"], k))
        columns["scores"].append(_padded(det["scores"], k))
        columns["labels"].append(_padded(det["labels"].to(torch.int64), k))
        columns["count"].append(torch.ones_like(det["scores"]).sum().clamp(max=k).to(torch.int64))
        if extra == "masks":
            columns["masks"].append(_padded(det["masks"][:, 0], k))
        elif extra == "keypoints":
            points = torch.cat([det["keypoints"][..., :2],
                                det["keypoints_scores"][..., None]], dim=-1)
            columns["keypoints"].append(_padded(points, k))
    return tuple(torch.stack(columns[name]) for name in output_names(extra))


def _padded(values: torch.Tensor, k: int) -> torch.Tensor:
    """First k rows, zero-filled to exactly k; written with tensor ops only, so a traced
    (ONNX) graph keeps the row count dynamic instead of baking in the example's."""
    zeros = values.new_zeros((k, *values.shape[1:]))
    return torch.cat([values[:k], zeros], dim=0)[:k]
