"""ByteTrack (Zhang et al., 2022): two-stage association of high- and low-score detections.

1. Confirmed tracks, predicted by a Kalman filter over the real frame gap, are
   matched to high-score detections by IoU (Hungarian assignment, scipy's
   ``linear_sum_assignment``): first the tracked ones (seen last frame), then the
   lost ones on what is left.
2. Confirmed tracks still unmatched are matched to low-score detections, which
   keeps an object whose score dipped under occlusion on its track.
A lost track also matches where it was last seen (the larger of the IoUs), so
an object that stopped or bounced while hidden gets its id back, and its box
(and the detection's) is widened by ``lost_buffer`` per frame unseen (at most
by LOST_BUFFER_MAX), a buffered IoU: the longer it is hidden, the less exactly
the prediction places it.
3. Tentative tracks (seen fewer than ``min_hits`` times) are matched to the
   remaining high-score detections; enough matches confirm them and give them an id.
A detection of another class is a worse match: ``class_mismatch_factor``
scales its IoU when choosing among the pairs over the IoU gate, not the gate
itself, so a track keeps an object whose class flickers (0: never matched).
The class a track is compared with is its recent history, not its last box:
each match multiplies its class votes by ``class_memory`` and adds one to the
matched class, and the IoU of a detection of class c is scaled by
factor + (1 - factor) * (c's share of the votes); ``class_memory`` 0 compares
with the last class only. Two nearby objects of different classes whose boxes
a lost track could take are then told apart even when one box's class flickered.
A matched box that overlaps another track's predicted box (IoU >= ``occlusion_iou``)
corrects the track's position and size but leaves its velocity as it was: where
objects pass over each other the detector's boxes merge or jump between them, and
a velocity learnt from them would carry the track away once it is hidden (1: off).
A second box on an object already matched (IoU >= ``duplicate_iou`` with a
matched box) goes to no lost track, no low-score match and starts no track.
Unmatched high-score detections start tracks; tracks unseen for more than
``max_lost_frames`` frames (by frame id, so drops count) are dropped.
"""
from __future__ import annotations

import numpy as np

from engines.core.detections import Detections
from pipeline.tracking import kalman
from pipeline.tracking.assignment import linear_sum_assignment
from pipeline.tracking.base import UNCONFIRMED, IdSource, box_iou, counter

TENTATIVE, TRACKED, LOST = 0, 1, 2
LOST_BUFFER_MAX = 0.5        # a lost box is widened by at most half its size on each side


def assign(iou: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_iou: float,
           gain: np.ndarray | None = None):
    """Optimal pairs (row, col) of ``iou[rows][:, cols]`` with IoU >= min_iou.

    ``gain`` (same shape as ``iou``): what the assignment maximises over the pairs
    that pass the gate (default the IoU); a pair under the gate never takes part.
    """
    if len(rows) == 0 or len(cols) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    sub = iou[rows][:, cols]
    passed = sub >= min_iou
    value = sub if gain is None else gain[rows][:, cols]
    r, c = linear_sum_assignment(-np.where(passed, value, -1.0))
    keep = passed[r, c]
    return rows[r[keep]], cols[c[keep]]


def without(indices: np.ndarray, taken: np.ndarray, size: int) -> np.ndarray:
    """``indices`` (sorted, < size) minus ``taken``, in order: setdiff1d without its sort."""
    free = np.ones(size, bool)
    free[taken] = False
    return indices[free[indices]]


def buffered_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """(A, B) IoU after widening box a_i and every box b by ``buffer[i]`` of their size on each side."""
    a = kalman.xyxy_to_cxcywh(a_xyxy)[:, None, :]              # (A, 1, 4)
    b = kalman.xyxy_to_cxcywh(b_xyxy)[None, :, :]              # (1, B, 4)
    grow = 1.0 + 2.0 * np.asarray(buffer, np.float64).reshape(-1, 1)   # (A, 1)
    aw, ah, bw, bh = a[..., 2] * grow, a[..., 3] * grow, b[..., 2] * grow, b[..., 3] * grow
    iw = np.minimum(a[..., 0] + aw / 2, b[..., 0] + bw / 2) - np.maximum(a[..., 0] - aw / 2, b[..., 0] - bw / 2)
    ih = np.minimum(a[..., 1] + ah / 2, b[..., 1] + bh / 2) - np.maximum(a[..., 1] - ah / 2, b[..., 1] - bh / 2)
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = aw * ah + bw * bh - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class ByteTrack:
    def __init__(self, high_threshold: float = 0.4, low_threshold: float = 0.1,
                 new_track_threshold: float = 0.6, match_iou: float = 0.2,
                 low_match_iou: float = 0.5, tentative_match_iou: float = 0.3,
                 max_lost_frames: int = 60, min_hits: int = 1, class_mismatch_factor: float = 0.5,
                 duplicate_iou: float = 0.7, lost_buffer: float = 0.03, class_memory: float = 0.9,
                 occlusion_iou: float = 0.2, next_id: IdSource | None = None) -> None:
        self.high, self.low, self.new = high_threshold, low_threshold, new_track_threshold
        self.match_iou, self.low_match_iou = match_iou, low_match_iou
        self.tentative_match_iou = tentative_match_iou
        self.max_lost_frames, self.min_hits = max_lost_frames, min_hits
        self.class_mismatch_factor = class_mismatch_factor
        self.duplicate_iou = duplicate_iou
        self.lost_buffer = lost_buffer
        self.class_memory = class_memory
        self.occlusion_iou = occlusion_iou
        self.next_id = next_id or counter()
        self.reset()

    def reset(self) -> None:
        self.mean, self.cov = np.zeros((0, 8)), np.zeros((0, 8, 8))
        self.frame = np.zeros(0, np.int64)        # frame the state is predicted to
        self.last_seen = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.status = np.zeros(0, np.int8)
        self.ids = np.zeros(0, np.int64)
        self.class_id = np.zeros(0, np.int32)
        self.last_box = np.zeros((0, 4))          # last matched detection, xyxy
        self.class_votes = np.zeros((0, 1))       # (tracks, classes seen): decayed count of matches per class
        self.last_frame: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def update(self, dets: Detections, frame_id: int) -> np.ndarray:
        frame_id = int(frame_id)
        if self.last_frame is not None and frame_id <= self.last_frame:
            self.reset()                         # the stream went back in time: a new sequence
        self.last_frame = frame_id
        self._keep(frame_id - self.last_seen <= self.max_lost_frames)   # unseen too long, by frame id
        self._predict(frame_id)
        predicted = kalman.cxcywh_to_xyxy(self.mean)
        predicted_iou = box_iou(predicted, dets.xyxy)           # (tracks, detections), kept for _occluded
        iou = predicted_iou.copy()
        lost = np.flatnonzero(self.status == LOST)      # also where it was last seen: it may have stopped or turned
        iou[lost] = np.maximum(iou[lost], box_iou(self.last_box[lost], dets.xyxy))
        if self.lost_buffer > 0 and len(lost) and len(dets):     # hidden longer, placed less exactly
            buffer = np.minimum(self.lost_buffer * (frame_id - self.last_seen[lost]), LOST_BUFFER_MAX)
            iou[lost] = np.maximum(iou[lost], buffered_iou(predicted[lost], dets.xyxy, buffer))
        gain = None
        if self.class_mismatch_factor == 0:     # a box of another class is never a match
            iou = np.where(self.class_id[:, None] != dets.class_id[None, :], 0.0, iou)
        elif self.class_mismatch_factor != 1:   # ... or a worse one: it loses ties, it passes the gate
            gain = iou * self._class_weight(dets.class_id)
        score = dets.score
        between = box_iou(dets.xyxy, dets.xyxy)      # detection vs detection: the duplicate checks below
        high = np.flatnonzero(score >= self.high)
        low = np.flatnonzero((score >= self.low) & (score < self.high))
        ta, da = assign(iou, np.flatnonzero(self.status == TRACKED), high, self.match_iou, gain)
        high_free = self._not_duplicates(between, without(high, da, len(dets)), da)
        tb, db = assign(iou, lost, high_free, self.match_iou, gain)
        t1, d1 = np.concatenate([ta, tb]), np.concatenate([da, db])
        unmatched = without(np.flatnonzero(self.status != TENTATIVE), t1, len(self))
        t2, d2 = assign(iou, unmatched, self._not_duplicates(between, low, d1), self.low_match_iou, gain)
        high_left = without(high, d1, len(dets))
        t3, d3 = assign(iou, np.flatnonzero(self.status == TENTATIVE), high_left, self.tentative_match_iou, gain)
        tracks, det_index = np.concatenate([t1, t2, t3]), np.concatenate([d1, d2, d3])
        self._correct(tracks, dets, det_index, frame_id, self._occluded(predicted_iou, det_index, tracks))
        ids = np.full(len(dets), UNCONFIRMED, np.int64)
        ids[det_index] = self.ids[tracks]
        self._age(tracks, frame_id)
        self._start(dets, self._not_duplicates(between, without(high_left, d3, len(dets)), det_index), frame_id, ids)
        return ids

    def _predict(self, frame_id: int) -> None:
        lost = self.status == LOST
        self.mean[lost, 6:8] = 0.0               # a lost box keeps its size
        self.mean, self.cov = kalman.predict(self.mean, self.cov, np.maximum(frame_id - self.frame, 0))
        self.frame[:] = frame_id

    def _correct(self, tracks: np.ndarray, dets: Detections, det_index: np.ndarray, frame_id: int,
                 occluded: np.ndarray) -> None:
        """Kalman update of each matched track; an ``occluded`` one keeps its velocity."""
        measured = kalman.xyxy_to_cxcywh(dets.xyxy[det_index])
        velocity = self.mean[tracks, 4:8]                   # fancy indexing: a copy
        self.mean[tracks], self.cov[tracks] = kalman.update(self.mean[tracks], self.cov[tracks], measured)
        self.mean[tracks[occluded], 4:8] = velocity[occluded]
        self.hits[tracks] += 1
        self.last_seen[tracks] = frame_id
        self.class_id[tracks] = dets.class_id[det_index]
        self.class_votes[tracks] *= self.class_memory
        self._vote(tracks, dets.class_id[det_index])
        self.last_box[tracks] = dets.xyxy[det_index]
        confirm = tracks[(self.status[tracks] == TENTATIVE) & (self.hits[tracks] >= self.min_hits)]
        for t in confirm:
            self.ids[t] = self.next_id()
        self.status[tracks] = np.where(self.ids[tracks] == UNCONFIRMED, TENTATIVE, TRACKED)

    def _occluded(self, predicted_iou: np.ndarray, det_index: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """(M,) bool: detection det_index[i], matched to tracks[i], overlaps another track's predicted
        box (``predicted_iou``: tracks x detections) by >= occlusion_iou (objects merging or passing
        over each other: no measure of motion)."""
        if self.occlusion_iou >= 1 or len(tracks) == 0 or len(self) < 2:
            return np.zeros(len(tracks), bool)
        near = predicted_iou[:, det_index].T                # (matched, tracks), a copy
        near[np.arange(len(tracks)), tracks] = 0.0          # its own track is no other object
        return near.max(axis=1) >= self.occlusion_iou

    def _age(self, matched: np.ndarray, frame_id: int) -> None:
        """Unmatched tracked -> lost; unmatched tentative and long-lost tracks are dropped."""
        unmatched = np.ones(len(self), bool)
        unmatched[matched] = False
        self.status[unmatched & (self.status == TRACKED)] = LOST
        drop = unmatched & (self.status == TENTATIVE)
        drop |= (self.status == LOST) & (frame_id - self.last_seen > self.max_lost_frames)
        self._keep(~drop)

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("mean", "cov", "frame", "last_seen", "hits", "status", "ids", "class_id", "last_box",
                     "class_votes"):
            setattr(self, name, getattr(self, name)[keep])

    def _class_weight(self, det_class: np.ndarray) -> np.ndarray:
        """(tracks, detections) IoU factor: class_mismatch_factor plus the rest in proportion
        to the detection's class share of the track's votes (1 for its only class)."""
        width = self.class_votes.shape[1]
        seen = det_class < width
        votes = self.class_votes[:, np.where(seen, det_class, 0)] * seen
        share = votes / np.maximum(self.class_votes.sum(axis=1, keepdims=True), 1e-12)
        return self.class_mismatch_factor + (1.0 - self.class_mismatch_factor) * share

    def _vote(self, tracks: np.ndarray, classes: np.ndarray) -> None:
        """One vote for ``classes[i]`` to track ``tracks[i]`` (columns added for a class id not seen yet)."""
        if len(classes) and classes.max() >= self.class_votes.shape[1]:
            grow = int(classes.max()) + 1 - self.class_votes.shape[1]
            self.class_votes = np.pad(self.class_votes, ((0, 0), (0, grow)))
        self.class_votes[tracks, classes] += 1.0

    def _not_duplicates(self, between: np.ndarray, new: np.ndarray, matched: np.ndarray) -> np.ndarray:
        """Drop candidates that overlap a matched box by >= duplicate_iou (``between``: the frame's
        detection-vs-detection IoU): a second box (often of another class) on an object that already
        has its track."""
        if len(new) == 0 or len(matched) == 0:
            return new
        overlap = between[new][:, matched].max(axis=1)
        return new[overlap < self.duplicate_iou]

    def _start(self, dets: Detections, new: np.ndarray, frame_id: int, ids: np.ndarray) -> None:
        new = new[dets.score[new] >= self.new]
        if len(new) == 0:
            return
        mean, cov = kalman.initiate(kalman.xyxy_to_cxcywh(dets.xyxy[new]))
        new_ids = np.full(len(new), UNCONFIRMED, np.int64)
        if self.min_hits <= 1:
            new_ids = np.array([self.next_id() for _ in new], np.int64)
            ids[new] = new_ids
        self.mean, self.cov = np.concatenate([self.mean, mean]), np.concatenate([self.cov, cov])
        self.frame = np.concatenate([self.frame, np.full(len(new), frame_id)])
        self.last_seen = np.concatenate([self.last_seen, np.full(len(new), frame_id)])
        self.hits = np.concatenate([self.hits, np.ones(len(new), np.int64)])
        status = TRACKED if self.min_hits <= 1 else TENTATIVE
        self.status = np.concatenate([self.status, np.full(len(new), status, np.int8)])
        self.ids = np.concatenate([self.ids, new_ids])
        self.class_id = np.concatenate([self.class_id, dets.class_id[new]])
        self.last_box = np.concatenate([self.last_box, dets.xyxy[new].astype(np.float64)])
        self.class_votes = np.concatenate([self.class_votes, np.zeros((len(new), self.class_votes.shape[1]))])
        self._vote(np.arange(len(self) - len(new), len(self)), dets.class_id[new])
