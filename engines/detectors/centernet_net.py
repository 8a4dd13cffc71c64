"""CenterNet detector, network half (torch): our weights files, official checkpoints, the module."""
from __future__ import annotations

from pathlib import Path

from engines.nets.centernet import CenterNetNet
from engines.nets.weights_file import checked_size, load_state, load_weights


def read_centernet_weights(path: Path, size: str | None) -> tuple[str, list[str], dict]:
    """(size, class names, state dict) of one of our CenterNet weights files."""
    data = load_weights(path, "centernet")
    return checked_size(data, size, path, "CenterNet"), data["class_names"], data["state_dict"]


def load_official(path: Path | None, size: str | None, class_names) -> tuple[str, CenterNetNet]:
    """An official CenterNet checkpoint -> (size, loaded net)."""
    from engines.nets.centernet_official import load_official_centernet
    if path is None:
        raise ValueError("CenterNetDetector(official=True) needs the official checkpoint path in weights")
    size = size or "r18"
    count = len(class_names) if class_names else None
    return size, load_official_centernet(path, count, size)


def build_centernet_module(detector):
    """The detector's network in eval mode with its weights (ours or official) loaded."""
    if detector.official:
        if detector._official_net is None:
            _, detector._official_net = load_official(detector.weights_path, detector.size,
                                                      detector.class_names)
        return detector._official_net.eval()
    state = detector._state
    if state is None and detector.weights_path is not None:
        _, _, state = read_centernet_weights(detector.weights_path, detector.size)
    what = f"CenterNet {detector.size} with {len(detector.class_names)} classes"
    return load_state(CenterNetNet(len(detector.class_names), detector.size), state,
                      detector.weights_path, what)
