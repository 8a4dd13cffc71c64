"""The detector contract: what a model family owns, apart from the engine that runs it.

A detector knows its input (PreprocessSpec), its class names, the names and
order of its raw outputs, how to build a torch module (when it has one) or
which ONNX file holds it, and how to decode raw outputs into Detections.
Engines only run tensors; stages only call these methods.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from engines.detectors.spec import PreprocessSpec
from pipeline.detections import Detections


class Detector:
    name: str = "detector"
    spec: PreprocessSpec
    class_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ("output0",)
    onnx_path: Path | None = None      # set when the model exists only as ONNX (users' exports)
    weights_path: Path | None = None   # the file the weights came from, for cache keys and logs

    def build_module(self):
        """Return an eval-mode torch.nn.Module with weights loaded.

        forward(x: (B, 3, H, W) float) -> tuple of raw tensors in ``output_names`` order.
        """
        raise NotImplementedError(f"{self.name}: this model has no PyTorch module "
                                  f"(weights: {self.weights_path}); run it with an ONNX engine")

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        """Raw outputs of a batch -> Detections of item ``index``, boxes in network-input pixels.

        ``outputs`` maps output name -> array with a leading batch axis; NumPy arrays
        decode with the NumPy ops, CuPy arrays with their CuPy twins.
        """
        raise NotImplementedError

    def describe(self) -> str:
        return (f"{self.name} {self.spec.width}x{self.spec.height}, {len(self.class_names)} classes, "
                f"weights {self.weights_path or 'none'}")
