"""evaluate_maskrcnn(): COCO box AND mask metrics of a Mask R-CNN on held-out synthetic frames.

The same protocol as engines/training/evaluate.py (frames ``i * FRAME_STRIDE``
of ``scenes(seed)`` at 640x480, default seed 7 which training never sees, the
one detect path with the torch module on CPU), but the records keep the masks
(mapped to the source frame by the letterbox) and COCOeval runs
twice: ``bbox`` and ``segm``. Returns a JSON-ready dict like ``evaluate()``.
"""
from __future__ import annotations

from pathlib import Path

from engines.core.coco import coco_ground_truth
from engines.training.evaluate import (FRAME_STRIDE, ZERO_METRICS,  # noqa: F401 (re-exported)
                                       coco_metrics, detect_records, torch_runner)


def evaluate_maskrcnn(weights: Path | None = None, *, size: str | None = None, seed: int = 7,
                      frames: int = 200, conf_threshold: float = 0.001, detector=None,
                      engine=None, scenes) -> dict:
    """Held-out box and mask metrics (weights None: the shipped tiny model).

    ``engine``: optional object with ``infer(batch) -> {output name: array}``
    (default: the detector's torch module on CPU).
    """
    from engines.detectors import make_detector
    if frames < 1:
        raise ValueError(f"evaluate_maskrcnn: frames must be >= 1, got {frames}")
    detector = detector or make_detector("maskrcnn", weights, size)
    if detector.arch.extra != "masks":
        raise ValueError(f"evaluate_maskrcnn: {detector.name} has no mask head")
    scene = scenes(seed)
    frame_ids = [i * FRAME_STRIDE for i in range(frames)]
    infer = engine.infer if engine is not None else torch_runner(detector)
    results = detect_records(detector, infer, scene, frame_ids, conf_threshold, with_masks=True)
    truth = coco_ground_truth(scene, frame_ids, with_masks=True)
    used = detector.weights_path or weights
    return {"model": "maskrcnn", "weights": None if used is None else str(used), "seed": seed,
            "frames": frames, "bbox": coco_metrics(truth, results, "bbox"),
            "segm": coco_metrics(truth, results, "segm")}


def evaluate(model: str = "maskrcnn", weights: Path | None = None, *, size: str | None = None,
             seed: int = 7, frames: int = 200, conf_threshold: float = 0.001, engine=None,
             scenes) -> dict:
    """engines/training/evaluate.py's ``evaluate`` signature, for ``model='maskrcnn'``."""
    if model != "maskrcnn":
        raise ValueError(f"maskrcnn_eval.evaluate: model must be 'maskrcnn', got {model!r}")
    return evaluate_maskrcnn(weights, size=size, seed=seed, frames=frames,
                             conf_threshold=conf_threshold, engine=engine, scenes=scenes)
