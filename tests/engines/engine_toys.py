"""Small torch modules and Detector subclasses for the engine tests (no dependency on engines/nets)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engines.detectors.base import Detector
from engines.core.spec import PreprocessSpec
from engines.core.detections import Detections

torch.set_num_threads(1)

# the fp16-vs-fp32 detection tests' toy (torch, ONNX Runtime, TensorRT): scores spread over (0, 1)
FP16_LOGIT_SCALE = 8.0


class TinyYoloNet(torch.nn.Module):
    """(B, 3, H, W) -> ((B, 4 + C, H/4 * W/4),) like a YOLOv8 head, optionally a second output."""

    def __init__(self, num_classes: int = 2, two_outputs: bool = False, seed: int = 0,
                 logit_scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.BatchNorm2d(8), torch.nn.SiLU(),
            torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.BatchNorm2d(16), torch.nn.SiLU())
        self.head = torch.nn.Conv2d(16, 4 + num_classes, 1)
        self.two_outputs, self.logit_scale = two_outputs, logit_scale
        for module in self.stem:   # non-trivial batch-norm statistics, so folding is exercised
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        features = self.stem(x)
        raw = self.head(features).flatten(2)
        stride = x.shape[-1] / features.shape[-1]
        boxes = raw[:, :4].sigmoid() * stride * 8
        out = torch.cat([boxes, (raw[:, 4:] * self.logit_scale).sigmoid()], 1)
        return (out, features) if self.two_outputs else (out,)


class ToyDetector(Detector):
    """A detector with a torch module, 32x32 input; decode: threshold + class-wise NMS (torchvision).

    ``logit_scale`` > 1 spreads the class scores (all within ~0.44-0.54 at 1), so a threshold can
    sit far from every score (the fp16-vs-fp32 detection tests)."""
    name = "toy"

    def __init__(self, size: int = 32, num_classes: int = 2, two_outputs: bool = False, seed: int = 0,
                 logit_scale: float = 1.0):
        self.spec = PreprocessSpec(height=size, width=size)
        self.class_names = tuple(f"thing{i}" for i in range(num_classes))
        self.output_names = ("output0", "features") if two_outputs else ("output0",)
        self.num_classes, self.two_outputs, self.seed = num_classes, two_outputs, seed
        self.logit_scale = logit_scale

    def build_module(self):
        return TinyYoloNet(self.num_classes, self.two_outputs, self.seed, self.logit_scale).eval()

    def decode(self, outputs, index, *, conf_threshold=0.25, iou_threshold=0.45, max_det=300):
        import torchvision
        pred = np.asarray(outputs["output0"][index], dtype=np.float32).T   # (N, 4 + C)
        scores = pred[:, 4:].max(1)
        classes = pred[:, 4:].argmax(1)
        keep = scores > conf_threshold
        cx, cy, w, h = pred[keep, :4].T
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        kept = torchvision.ops.batched_nms(torch.from_numpy(xyxy), torch.from_numpy(scores[keep]),
                                           torch.from_numpy(classes[keep]), iou_threshold)[:max_det].numpy()
        return Detections(xyxy[kept], scores[keep][kept], classes[keep][kept], labels=self.class_names)


class OnnxOnlyDetector(Detector):
    """A detector that exists only as an ONNX file (like a user's export)."""
    name = "onnx-only"

    def __init__(self, path: Path, size: int = 32, output_names=("output0",)):
        self.onnx_path = self.weights_path = Path(path)
        self.spec = PreprocessSpec(height=size, width=size)
        self.output_names = tuple(output_names)


def random_batch(batch: int = 1, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 3, size, size), dtype=np.float32)


def torch_reference(detector: ToyDetector, batch: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        return [out.numpy() for out in detector.build_module()(torch.from_numpy(batch))]


def clear_threshold(scores: np.ndarray, top: int = 20) -> float:
    """A confidence threshold in the widest gap among the ``top`` highest scores, so fp16 rounding
    cannot flip a detection and at least one score (at most ``top``) lies above it."""
    ranked = np.unique(np.asarray(scores, dtype=np.float32).reshape(-1))[::-1][:top + 1]
    if len(ranked) < 2:
        raise ValueError("clear_threshold needs at least two distinct scores")
    gaps = ranked[:-1] - ranked[1:]
    widest = int(np.argmax(gaps))
    return float((ranked[widest] + ranked[widest + 1]) / 2)


def assert_same_detections(a: Detections, b: Detections, atol: float) -> None:
    assert len(a) == len(b), (len(a), len(b))
    order_a, order_b = np.lexsort(a.xyxy.T[::-1]), np.lexsort(b.xyxy.T[::-1])
    np.testing.assert_array_equal(a.class_id[order_a], b.class_id[order_b])
    np.testing.assert_allclose(a.xyxy[order_a], b.xyxy[order_b], atol=atol)
