"""evaluate(): COCO box metrics of a detector on held-out frames of a scene (pycocotools).

Frames ``i * FRAME_STRIDE`` (i < frames) of ``scenes(seed)`` (a ``Scene``,
engines/core/scene.py; the command line passes the synthetic camera) at
640x480, spread over many object sets; the default seed 7 is disjoint from the
training seeds (engines/training/data.py). Frames go through the one detect
path (engines/detect.py) with the detector's torch module on CPU, or with
``engine`` (any object with ``infer(batch) -> {output name: array}``), and are
scored by COCOeval.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from engines.core.coco import coco_ground_truth, detections_to_coco
from engines.detect import Thresholds, detect_frames

FRAME_STRIDE = 151          # not a divisor of the scene's 300-frame object-set period
BATCH = 8
IOU_THRESHOLD = 0.6
MAX_DET = 100
ZERO_METRICS = {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0, "AR100": 0.0}


def torch_runner(detector):
    """``infer(batch) -> {output name: array}`` from the detector's torch module on CPU."""
    import torch
    module = detector.build_module().eval()

    def infer(batch: np.ndarray) -> dict:
        with torch.no_grad():
            outputs = module(torch.from_numpy(batch))
        if not isinstance(outputs, (tuple, list)):
            outputs = (outputs,)
        return {name: out.numpy() for name, out in zip(detector.output_names, outputs)}
    infer.torch_module = True
    return infer


def default_runner(detector):
    """The torch module on CPU when torch is installed, else the best engine here (ONNX Runtime)."""
    from engines.extras import installed
    if installed("torch") and detector.has_torch_module():
        return torch_runner(detector)
    from engines.select import make_engine
    return make_engine("auto", detector, device="cpu", max_batch=BATCH).infer


def detect_records(detector, infer, scene, frame_ids, conf_threshold: float,
                   with_masks: bool = False) -> list[dict]:
    """COCO result records for ``frame_ids`` of ``scene``, in source pixels (mask RLEs if asked)."""
    thresholds = Thresholds(conf_threshold, IOU_THRESHOLD, MAX_DET)
    results = []
    for start in range(0, len(frame_ids), BATCH):
        chunk = frame_ids[start:start + BATCH]
        found = detect_frames(detector, infer, [scene.render(f) for f in chunk],
                              thresholds=thresholds, batch=BATCH)
        for frame_id, dets in zip(chunk, found):
            if not with_masks:
                dets.mask = None
            results.extend(detections_to_coco(frame_id + 1, dets))
    return results


def coco_metrics(ground_truth: dict, results: list[dict], iou_type: str) -> dict:
    """COCOeval of ``iou_type`` ('bbox' or 'segm') -> {'mAP', 'mAP50', 'mAP75', 'AR100'}.

    All zeros when nothing was detected.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    if not results:
        return dict(ZERO_METRICS)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    return {"mAP": float(stats[0]), "mAP50": float(stats[1]), "mAP75": float(stats[2]),
            "AR100": float(stats[8])}


def coco_box_metrics(ground_truth: dict, results: list[dict]) -> dict:
    """COCOeval (bbox) -> {'mAP', 'mAP50', 'mAP75', 'AR100'}; zeros when nothing was detected."""
    return coco_metrics(ground_truth, results, "bbox")


def evaluate(model: str, weights: Path | None = None, *, size: str | None = None, seed: int = 7,
             frames: int = 200, conf_threshold: float = 0.001, engine=None, scenes) -> dict:
    """Held-out COCO box metrics of ``model`` (weights None: the shipped default) on ``scenes(seed)``."""
    from engines.detectors import make_detector
    if frames < 1:
        raise ValueError(f"evaluate: frames must be >= 1, got {frames}")
    detector = make_detector(model, weights, size)
    scene = scenes(seed)
    frame_ids = [i * FRAME_STRIDE for i in range(frames)]
    infer = engine.infer if engine is not None else default_runner(detector)
    results = detect_records(detector, infer, scene, frame_ids, conf_threshold)
    metrics = coco_box_metrics(coco_ground_truth(scene, frame_ids, with_masks=False), results)
    on_torch = engine is None and getattr(infer, "torch_module", False)
    used = (detector.weights_path if on_torch else detector.onnx_path) or detector.weights_path or weights
    return {"model": model, "weights": None if used is None else str(used), "seed": seed,
            "frames": frames, "bbox": metrics}
