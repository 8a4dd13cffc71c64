"""The detector contract: the torch-free half of a model family (spec + decoder) and its card.

A detector knows its input (PreprocessSpec), its class names, the names and
order of its raw outputs, which files hold it (torch weights, an ONNX file) and
how to decode raw outputs into Detections. That is all the preprocess and
postprocess stages need, and none of it imports torch. The other half, the
network builder (``engines/detectors/*_net.py``), is imported only by
``build_module``: the inference stage's torch engine, training and export.

``card()`` is a plain, JSON-able dict from which ``engines.detectors.from_card``
rebuilds the same detector without reading any weights file: the supervisor
resolves the model once and hands the card to every stage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from engines.core.detections import Detections
from engines.core.spec import PreprocessSpec
from engines.extras import installed


class Detector:
    name: str = "detector"
    card_type: str = "detector"        # key of engines.detectors.CARD_TYPES
    spec: PreprocessSpec
    class_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ("output0",)
    onnx_path: Path | None = None      # an ONNX file of this model (users' exports, shipped models)
    weights_path: Path | None = None   # the file the weights came from, for cache keys and logs
    graph_capturable: bool = True      # fixed output shapes, no host syncs: cuda_graph 'auto' may capture it

    def has_torch_module(self) -> bool:
        """Whether ``build_module`` can work here (a network builder and torch installed)."""
        return type(self).build_module is not Detector.build_module and installed("torch")

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

    def card(self) -> dict:
        """What ``from_card`` needs to rebuild this detector without reading weights (JSON-able)."""
        raise NotImplementedError(f"{type(self).__name__} has no card")

    def describe(self) -> str:
        return (f"{self.name} {self.spec.width}x{self.spec.height}, {len(self.class_names)} classes, "
                f"weights {self.weights_path or 'none'}")


def optional_path(value) -> Path | None:
    return None if value is None else Path(value)


def path_text(value: Path | None) -> str | None:
    return None if value is None else str(value)
