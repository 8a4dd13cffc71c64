"""Training and evaluation on the synthetic camera.

``train`` (engines.training.trainer) fits the YOLO / CenterNet nets and
``evaluate`` (engines.training.evaluate) scores a detector with COCOeval on
held-out frames. Both are imported lazily so ``import engines.training`` stays cheap.
"""
from __future__ import annotations

__all__ = ["train", "evaluate"]


def __getattr__(name: str):
    if name == "train":
        from engines.training.trainer import train
        return train
    if name == "evaluate":
        from engines.training.evaluate import evaluate
        return evaluate
    raise AttributeError(f"module 'engines.training' has no attribute {name!r}")
