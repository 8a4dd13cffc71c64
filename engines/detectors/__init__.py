"""The detector registry: a model name (+ weights, size) -> a Detector, and cards -> Detectors.

``make_detector("yolo")`` gives the shipped, trained tiny YOLO from
engines/weights/ (``yolo_tiny.json`` names its classes; ``yolo_tiny.onnx`` runs
without torch, ``yolo_tiny.pt`` on the torch engine and for training); a
``.onnx`` weights file for "yolo" is a user's Ultralytics export
(UltralyticsOnnxDetector). Nothing here imports torch: reading a torch weights
file (``--weights my.pt``) does, in the detector's network half.

``detector.card()`` / ``from_card(card)``: the supervisor resolves the model
once and the stages rebuild it from the card without reading weights.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Sequence

from engines.detectors.base import Detector

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_SIZE = {"yolo": "tiny", "centernet": "tiny", "maskrcnn": "tiny"}
TORCHVISION_FAMILIES = ("maskrcnn", "fasterrcnn", "retinanet", "ssd", "ssdlite", "fcos", "keypointrcnn")

Factory = Callable[[Path | None, str | None, Sequence[str] | None], Detector]


def shipped_model(name: str, size: str) -> dict | None:
    """The shipped model ``name``/``size``: {"class_names", "weights": .pt or None, "onnx": .onnx or None}."""
    card_path = WEIGHTS_DIR / f"{name}_{size}.json"
    if not card_path.is_file():
        return None
    info = json.loads(card_path.read_text())
    files = {kind: WEIGHTS_DIR / f"{name}_{size}.{kind_suffix}"
             for kind, kind_suffix in (("weights", "pt"), ("onnx", "onnx"))}
    return {"class_names": info["class_names"],
            **{kind: (path if path.is_file() else None) for kind, path in files.items()}}


def _shipped_or_warn(name: str, size: str) -> dict:
    found = shipped_model(name, size)
    if found is None or (found["weights"] is None and found["onnx"] is None):
        log.warning("%s %s: no shipped weights in %s, using an untrained network", name, size, WEIGHTS_DIR)
        return {"class_names": None, "weights": None, "onnx": None}
    return found


def _make_yolo(weights, size, class_names) -> Detector:
    from engines.detectors.yolo import YoloDetector
    if weights is not None and weights.suffix.lower() == ".onnx":
        from engines.detectors.ultralytics_onnx import UltralyticsOnnxDetector
        if not weights.is_file():
            raise FileNotFoundError(f"ONNX model not found: {weights}")
        return UltralyticsOnnxDetector(weights)
    if weights is not None:
        return YoloDetector(size=size, weights=weights, class_names=class_names)
    size = size or DEFAULT_SIZE["yolo"]
    shipped = _shipped_or_warn("yolo", size)
    return YoloDetector(size, shipped["weights"], class_names or shipped["class_names"],
                        onnx_path=shipped["onnx"], check=False)


def _make_centernet(weights, size, class_names) -> Detector:
    from engines.detectors.centernet import CenterNetDetector
    if weights is not None:
        return CenterNetDetector(size=size, weights=weights, class_names=class_names,
                                 official=_is_official_centernet(weights))
    size = size or DEFAULT_SIZE["centernet"]
    shipped = _shipped_or_warn("centernet", size)
    return CenterNetDetector(size, shipped["weights"], class_names or shipped["class_names"],
                             onnx_path=shipped["onnx"], check=False)


def _is_official_centernet(path: Path) -> bool:
    """An official CenterNet checkpoint has 'state_dict' (and 'epoch') but not our 'model' key."""
    from engines.nets.weights_file import read_torch_file
    data = read_torch_file(path)
    return "model" not in data and "state_dict" in data


def _make_torchvision(name: str) -> Factory:
    """torchvision's two-stage and single-shot families; maskrcnn defaults to the shipped tiny model."""
    def factory(weights, size, class_names) -> Detector:
        from engines.detectors.torchvision_models import TorchvisionDetector
        if name == "maskrcnn" and weights is None and size in (None, DEFAULT_SIZE["maskrcnn"]):
            size = DEFAULT_SIZE["maskrcnn"]
            weights = _shipped_or_warn("maskrcnn", size)["weights"]
        return TorchvisionDetector(name, size=size, weights=weights, class_names=class_names)
    return factory


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


def _card_types() -> dict[str, type[Detector]]:
    from engines.detectors.centernet import CenterNetDetector
    from engines.detectors.torchvision_models import TorchvisionDetector
    from engines.detectors.ultralytics_onnx import UltralyticsOnnxDetector
    from engines.detectors.yolo import YoloDetector
    return {cls.card_type: cls for cls in (YoloDetector, CenterNetDetector, UltralyticsOnnxDetector,
                                           TorchvisionDetector)}


def from_card(card: dict) -> Detector:
    """Rebuild a detector from ``Detector.card()`` without reading weights (torch-free)."""
    if not isinstance(card, dict) or card.get("type") not in _card_types():
        raise ValueError(f"not a detector card: {card!r:.120}")
    return _card_types()[card["type"]].from_card(card)


def default_weights(name: str, size: str) -> Path | None:
    """The shipped torch weights file of ``name``/``size`` (training starts from these), if present."""
    found = shipped_model(name, size)
    return None if found is None else found["weights"]
