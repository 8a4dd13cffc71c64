"""Which frames the side branch (e.g. Mask R-CNN) gets, decided on the fast path's results.

A frame goes to the branch when any configured rule fires (the reason travels
with it): every Nth frame; a class of interest detected; a detection whose
score is below ``low_confidence`` (the fast detector is unsure); or a
subscriber asked for the next frame of that stream on the request endpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engines.core.detections import Detections

MAX_REQUEST_NAME = 128
MAX_PENDING_REQUESTS = 1024


@dataclass
class BranchPolicy:
    every_n: int = 0                                   # 0: off
    classes: frozenset = field(default_factory=frozenset)   # class ids (int) or labels (str)
    low_confidence: float | None = None
    requested: set = field(default_factory=set)        # streams whose next frame was asked for

    @classmethod
    def from_config(cls, branch_cfg: dict) -> "BranchPolicy":
        return cls(branch_cfg["every_n"], frozenset(branch_cfg["classes"]), branch_cfg["low_confidence"])

    def request(self, stream: str) -> None:
        """From any peer of the request socket: bounded, so a flood of names cannot grow memory."""
        if 0 < len(stream) <= MAX_REQUEST_NAME and len(self.requested) < MAX_PENDING_REQUESTS:
            self.requested.add(stream)

    def reason(self, stream: str, frame_id: int, dets: Detections | None) -> str | None:
        """Why this frame goes to the branch, or None."""
        if stream in self.requested:
            self.requested.discard(stream)
            return "request"
        if self.every_n and frame_id % self.every_n == 0:
            return f"every {self.every_n}"
        if dets is None or len(dets) == 0:
            return None
        if self.classes:
            for class_id in dets.class_id.tolist():
                if class_id in self.classes or dets.label(class_id) in self.classes:
                    return f"class {dets.label(class_id)}"
        if self.low_confidence is not None and float(dets.score.min()) < self.low_confidence:
            return f"low confidence {float(dets.score.min()):.2f}"
        return None
