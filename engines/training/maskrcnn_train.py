"""train_maskrcnn(): fit the tiny Mask R-CNN on the synthetic camera's exact masks, resumable.

The schedule and bookkeeping are engines/training/trainer.py's, reused
(``learning_rate`` warm-up + cosine, its AdamW groups without decay on norms
and biases, and its ``_Run``: ``<out>/last.pt`` checkpoints with model, EMA,
optimizer, step and RNG states, the log, the progress bar); gradient-norm clip,
an EMA of the weights, determinism for a seed. The loss
is torchvision's own (RPN objectness + box, R-CNN class + box, per-class mask
BCE). Samples come from ``MaskedSyntheticBatches``: training seeds only,
letterboxed exactly as at inference. The result is ``<out>/maskrcnn_<size>.pt``
in our weights format (``model='maskrcnn'``), the EMA weights.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from engines.training.ema import ModelEMA
from engines.training.maskrcnn_data import MaskedSyntheticBatches, torchvision_targets
from engines.training.trainer import _class_names, _optimizer, _Run, run_training

SIZES = ("tiny",)
LR = 1e-3
WEIGHT_DECAY = 1e-4
GRAD_CLIP = 10.0
EMA_DECAY, EMA_RAMP = 0.998, 300.0


def train_maskrcnn(size: str = "tiny", *, out: Path, steps: int, batch: int = 4, seed: int = 0,
                   resume: bool = False, lr: float | None = None, log_every: int = 50,
                   progress: bool = True, checkpoint_every: int = 250,
                   threads: int | None = None, scenes) -> Path:
    """Train the Mask R-CNN of ``size`` for ``steps`` steps on ``scenes``; returns the weights path."""
    if size not in SIZES:
        raise ValueError(f"train: unknown maskrcnn size {size!r}; expected one of {list(SIZES)}")
    if steps < 1 or batch < 1:
        raise ValueError(f"train: steps and batch must be >= 1, got steps={steps}, batch={batch}")
    return run_training(lambda out: MaskRCNNRun(size, out, batch, seed, lr or LR, scenes), "maskrcnn",
                        size, out=out, steps=steps, resume=resume, log_every=log_every,
                        progress=progress, checkpoint_every=checkpoint_every, threads=threads)


def train(model: str = "maskrcnn", size: str = "tiny", *, out: Path, steps: int, batch: int = 4,
          seed: int = 0, resume: bool = False, lr: float | None = None, log_every: int = 50,
          progress: bool = True, checkpoint_every: int = 250, threads: int | None = None,
          scenes) -> Path:
    """The CLI's ``train`` signature (engines/training/trainer.py), for ``model='maskrcnn'``."""
    if model != "maskrcnn":
        raise ValueError(f"maskrcnn_train.train: model must be 'maskrcnn', got {model!r}")
    return train_maskrcnn(size, out=out, steps=steps, batch=batch, seed=seed, resume=resume,
                          lr=lr, log_every=log_every, progress=progress,
                          checkpoint_every=checkpoint_every, threads=threads, scenes=scenes)


class MaskRCNNRun(_Run):
    """trainer._Run (state, restore, loop, checkpoints) with the Mask R-CNN net, data and loss."""
    grad_clip = GRAD_CLIP

    def __init__(self, size: str, out: Path, batch: int, seed: int, lr: float, scenes) -> None:
        from engines.detectors.maskrcnn_tiny import build_tiny_maskrcnn
        from engines.detectors.torchvision_models import torchvision_spec
        torch.manual_seed(seed)
        self.fam = SimpleNamespace(name="maskrcnn")    # what _Run's state() and loop() read
        self.size, self.out, self.batch, self.seed, self.lr = size, out, batch, seed, lr
        self.class_names = _class_names()
        self.net = build_tiny_maskrcnn(1 + len(self.class_names)).train()
        self.ema = ModelEMA(self.net, decay=EMA_DECAY, ramp=EMA_RAMP)
        self.optimizer = _optimizer(self.net, lr, WEIGHT_DECAY)
        self.data = MaskedSyntheticBatches(torchvision_spec("maskrcnn_tiny"), seed, scenes=scenes)
        self.step = 0

    def compute_loss(self, images: torch.Tensor, samples: list) -> tuple[torch.Tensor, dict]:
        """torchvision's summed training losses and each of them, rounded, by name."""
        losses = self.net(list(images), torchvision_targets(samples))
        parts = {name: round(float(value.detach()), 4) for name, value in losses.items()}
        return sum(losses.values()), parts
