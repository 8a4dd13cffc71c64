"""MOT ground truth of the synthetic camera and CLEAR-MOT / identity metrics from motmetrics.

Ground truth comes from ``SyntheticScene.ground_truth``: every visible object
with its stable ``track_id``. Objects less than 40 % visible (COCO ``iscrowd``)
are ignored, as COCO evaluation ignores crowd regions: missing one is no error
and a tracked box that overlaps one (IoU >= 0.5) is neither a hit nor a false
positive. Metrics are computed by motmetrics (an independent implementation).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

IOU_THRESHOLD = 0.5
METRICS = ("mota", "motp", "idf1", "idp", "idr", "num_switches", "num_false_positives",
           "num_misses", "num_objects", "mostly_tracked", "mostly_lost", "num_unique_objects")


@dataclass
class FrameTracks:
    ids: np.ndarray            # (N,) int
    xyxy: np.ndarray           # (N, 4) float
    ignore: np.ndarray | None = None   # ground truth only: (N,) bool, objects not scored


def ground_truth_tracks(scene, frame_ids: Iterable[int]) -> dict[int, FrameTracks]:
    out = {}
    for frame_id in frame_ids:
        truth = scene.ground_truth(int(frame_id), masks=False)
        out[int(frame_id)] = FrameTracks(truth.track_id.astype(np.int64), truth.xyxy.astype(np.float64),
                                         truth.iscrowd.astype(bool))
    return out


def write_mot_gt(path, scene, frame_ids: Iterable[int]) -> Path:
    """MOTChallenge gt.txt: frame (1-based), id (1-based), x, y, w, h, consider, class, visibility."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for frame_id in frame_ids:
        truth = scene.ground_truth(int(frame_id), masks=False)
        for j in range(len(truth.track_id)):
            x1, y1, x2, y2 = (float(v) for v in truth.xyxy[j])
            lines.append(f"{int(frame_id) + 1},{int(truth.track_id[j]) + 1},{x1:.2f},{y1:.2f},"
                         f"{x2 - x1:.2f},{y2 - y1:.2f},{0 if truth.iscrowd[j] else 1},"
                         f"{int(truth.class_id[j]) + 1},{float(truth.visible_fraction[j]):.3f}")
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path


def _motmetrics():
    """motmetrics 1.4.0 calls np.asfarray, which NumPy 2 removed: give it back before importing."""
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)
    import motmetrics
    return motmetrics


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from pipeline.tracking.base import box_iou
    return box_iou(a, b)


def _drop_ignored(gt: FrameTracks, hyp: FrameTracks) -> tuple[FrameTracks, FrameTracks]:
    """Remove ignored objects and the hypotheses that cover them and match nothing scored."""
    ignore = np.zeros(len(gt.ids), bool) if gt.ignore is None else gt.ignore
    kept = FrameTracks(gt.ids[~ignore], gt.xyxy[~ignore])
    if ignore.any() and len(hyp.ids):
        on_ignored = (_iou(hyp.xyxy, gt.xyxy[ignore]) >= IOU_THRESHOLD).any(axis=1)
        on_scored = (_iou(hyp.xyxy, kept.xyxy) >= IOU_THRESHOLD).any(axis=1)
        keep = ~(on_ignored & ~on_scored)
        hyp = FrameTracks(hyp.ids[keep], hyp.xyxy[keep])
    return kept, hyp


def mot_metrics(truth: dict[int, FrameTracks], tracks: dict[int, FrameTracks],
                sequence_frames: int | None = None) -> dict:
    """{metric: value} over the frames of ``truth``; hypotheses with id < 0 are left out.

    ``sequence_frames``: score each run of that many frame ids as its own sequence
    and report the overall figures, as MOTChallenge does over its sequences. The
    synthetic scene replaces all its objects at once every EPOCH_FRAMES (a cut).
    """
    mm = _motmetrics()
    accumulators: dict[int, object] = {}
    empty = FrameTracks(np.zeros(0, np.int64), np.zeros((0, 4)))
    for frame_id in sorted(truth):
        sequence = frame_id // sequence_frames if sequence_frames else 0
        acc = accumulators.setdefault(sequence, mm.MOTAccumulator(auto_id=False))
        hyp = tracks.get(frame_id, empty)
        confirmed = hyp.ids >= 0
        gt, hyp = _drop_ignored(truth[frame_id], FrameTracks(hyp.ids[confirmed], hyp.xyxy[confirmed]))
        distance = 1.0 - _iou(gt.xyxy, hyp.xyxy)
        distance[distance > 1.0 - IOU_THRESHOLD] = np.nan
        acc.update(gt.ids.tolist(), hyp.ids.tolist(), distance, frameid=frame_id)
    names = [str(k) for k in accumulators]
    summary = mm.metrics.create().compute_many(list(accumulators.values()), metrics=list(METRICS),
                                               names=names, generate_overall=True)
    row = summary.loc["OVERALL"]
    return {name: _plain(name, row[name]) for name in METRICS}


COUNTS = {"num_switches", "num_false_positives", "num_misses", "num_objects", "mostly_tracked",
          "mostly_lost", "num_unique_objects"}


def _plain(name: str, value):
    value = float(value.item() if hasattr(value, "item") else value)
    return int(round(value)) if name in COUNTS else round(value, 4)
