"""The detector registry: a model name (+ weights, size) -> a Detector.

``make_detector("yolo")`` gives the shipped, trained tiny YOLO from
engines/weights/; a ``.onnx`` weights file for "yolo" is a user's Ultralytics
export (UltralyticsOnnxDetector). New families register a factory in
``_FACTORIES`` with ``register_detector`` (e.g. "maskrcnn" later).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from engines.detectors.base import Detector

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_SIZE = {"yolo": "tiny", "centernet": "tiny"}

Factory = Callable[[Path | None, str | None, Sequence[str] | None], Detector]


def default_weights(name: str, size: str) -> Path | None:
    """The shipped weights of ``name``/``size`` (engines/weights/<name>_<size>.pt) if present."""
    path = WEIGHTS_DIR / f"{name}_{size}.pt"
    return path if path.is_file() else None


def _resolve(name: str, weights, size):
    if weights is not None:
        return Path(weights), size
    size = size or DEFAULT_SIZE[name]
    found = default_weights(name, size)
    if found is None:
        log.warning("%s %s: no shipped weights in %s, using an untrained network",
                    name, size, WEIGHTS_DIR)
    return found, size


def _make_yolo(weights, size, class_names) -> Detector:
    weights, size = _resolve("yolo", weights, size)
    if weights is not None and weights.suffix.lower() == ".onnx":
        from engines.detectors.ultralytics_onnx import UltralyticsOnnxDetector
        if not weights.is_file():
            raise FileNotFoundError(f"ONNX model not found: {weights}")
        return UltralyticsOnnxDetector(weights)
    from engines.detectors.yolo import YoloDetector
    return YoloDetector(size=size, weights=weights, class_names=class_names)


def _make_centernet(weights, size, class_names) -> Detector:
    weights, size = _resolve("centernet", weights, size)
    from engines.detectors.centernet import CenterNetDetector
    official = weights is not None and _is_official_centernet(weights)
    return CenterNetDetector(size=size, weights=weights, class_names=class_names,
                             official=official)


def _is_official_centernet(path: Path) -> bool:
    """An official CenterNet checkpoint has 'state_dict' (and 'epoch') but not our 'model' key."""
    from engines.nets.weights_file import read_torch_file
    data = read_torch_file(path)
    return "model" not in data and "state_dict" in data


def _make_torchvision(name: str) -> Factory:
    """torchvision's two-stage and single-shot families, imported only when asked for."""
    def factory(weights, size, class_names) -> Detector:
        if name == "maskrcnn":
            from engines.detectors.maskrcnn import make_maskrcnn
            return make_maskrcnn(weights, size, class_names)
        from engines.detectors.torchvision_models import TorchvisionDetector
        return TorchvisionDetector(name, size=size, weights=weights, class_names=class_names)
    return factory


TORCHVISION_FAMILIES = ("maskrcnn", "fasterrcnn", "retinanet", "ssd", "ssdlite", "fcos", "keypointrcnn")
_FACTORIES: dict[str, Factory] = {"yolo": _make_yolo, "centernet": _make_centernet,
                                  **{name: _make_torchvision(name) for name in TORCHVISION_FAMILIES}}


def register_detector(name: str, factory: Factory) -> None:
    """Add a model family: factory(weights: Path|None, size: str|None, class_names) -> Detector."""
    _FACTORIES[name] = factory


def known_detectors() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def make_detector(name: str, weights: str | Path | None = None, size: str | None = None,
                  class_names: Sequence[str] | None = None) -> Detector:
    """Build the detector ``name`` ('yolo', 'centernet', ...) from ``weights`` (None: shipped)."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown model {name!r}; known models: {list(known_detectors())}")
    return factory(None if weights is None else Path(weights), size, class_names)
