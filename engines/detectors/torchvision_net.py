"""torchvision detectors, network half (torch): read a checkpoint, build the model, wrap its outputs."""
from __future__ import annotations

from engines.detectors.torchvision_archs import build_architecture
from engines.detectors.torchvision_checkpoint import load_into, read_checkpoint  # noqa: F401 (re-exported)
from engines.detectors.torchvision_module import FixedOutputs, fit_transform_to_input, set_max_detections


def build_model(detector):
    """The torchvision model of ``detector`` with its checkpoint loaded, sized to its input."""
    arch = detector.arch
    model = build_architecture(arch, detector.num_classes, detector.num_keypoints, detector._download)
    state = detector._state
    if state is None and detector.weights_path is not None:
        state, _ = read_checkpoint(detector.weights_path)
    if state is not None:
        what = f"torchvision {arch.name} with {detector.num_classes} classes (background included)"
        load_into(model, state, detector.weights_path, what, arch.eps_zero_bn)
    fit_transform_to_input(model, detector.spec.height)
    set_max_detections(model, detector.max_det)
    return model.eval()


def build_fixed_outputs(detector):
    """The engines' module: batched input in, the fixed-shape tensors of ``output_names`` out."""
    if detector._model is None:
        detector._model = build_model(detector)
    return FixedOutputs(detector._model, detector.arch.two_stage, detector.arch.extra,
                        detector.max_det).eval()
