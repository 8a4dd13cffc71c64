"""Adds ``class_counts`` (label -> number of detections) to every published message."""
from __future__ import annotations

from collections import Counter

from plugins.base import Plugin


class ClassCounter(Plugin):
    def __init__(self, min_score: float = 0.0) -> None:
        self.min_score = min_score

    def on_frame(self, message: dict, frame=None) -> dict:
        counts = Counter(d["label"] for d in message["detections"] if d["score"] >= self.min_score)
        message["class_counts"] = dict(counts)
        return message
