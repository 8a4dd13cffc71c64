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

from engines.nets.weights_file import save_weights
from engines.training.checkpoint import load_checkpoint
from engines.training.ema import ModelEMA
from engines.training.maskrcnn_data import MaskedSyntheticBatches, torchvision_targets
from engines.training.trainer import _optimizer, _Run, learning_rate

SIZES = ("tiny",)
LR = 1e-3
WEIGHT_DECAY = 1e-4
GRAD_CLIP = 10.0
EMA_DECAY, EMA_RAMP = 0.998, 300.0


def _class_names() -> list[str]:
    from pipeline.sources.synthetic import CLASS_NAMES
    return list(CLASS_NAMES)


def train_maskrcnn(size: str = "tiny", *, out: Path, steps: int, batch: int = 4, seed: int = 0,
                   resume: bool = False, lr: float | None = None, log_every: int = 50,
                   progress: bool = True, checkpoint_every: int = 250,
                   threads: int | None = None) -> Path:
    """Train the Mask R-CNN of ``size`` for ``steps`` steps; returns the weights path."""
    if size not in SIZES:
        raise ValueError(f"train: unknown maskrcnn size {size!r}; expected one of {list(SIZES)}")
    if steps < 1 or batch < 1:
        raise ValueError(f"train: steps and batch must be >= 1, got steps={steps}, batch={batch}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        run = MaskRCNNRun(size, out, batch, seed, lr or LR)
        if resume:
            run.restore(load_checkpoint(out, "maskrcnn", size))
        run.loop(steps, log_every, progress, checkpoint_every)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return save_weights(out / f"maskrcnn_{size}.pt", "maskrcnn", size, run.class_names,
                        run.ema.module.state_dict())


def train(model: str = "maskrcnn", size: str = "tiny", *, out: Path, steps: int, batch: int = 4,
          seed: int = 0, resume: bool = False, lr: float | None = None, log_every: int = 50,
          progress: bool = True, checkpoint_every: int = 250, threads: int | None = None) -> Path:
    """The CLI's ``train`` signature (engines/training/trainer.py), for ``model='maskrcnn'``."""
    if model != "maskrcnn":
        raise ValueError(f"maskrcnn_train.train: model must be 'maskrcnn', got {model!r}")
    return train_maskrcnn(size, out=out, steps=steps, batch=batch, seed=seed, resume=resume,
                          lr=lr, log_every=log_every, progress=progress,
                          checkpoint_every=checkpoint_every, threads=threads)


class MaskRCNNRun(_Run):
    """trainer._Run (state, restore, loop, checkpoints) with the Mask R-CNN net, data and loss."""

    def __init__(self, size: str, out: Path, batch: int, seed: int, lr: float) -> None:
        from engines.detectors.maskrcnn_tiny import build_tiny_maskrcnn
        from engines.detectors.torchvision_models import torchvision_spec
        torch.manual_seed(seed)
        self.fam = SimpleNamespace(name="maskrcnn")    # what _Run's state() and loop() read
        self.size, self.out, self.batch, self.seed, self.lr = size, out, batch, seed, lr
        self.class_names = _class_names()
        self.net = build_tiny_maskrcnn(1 + len(self.class_names)).train()
        self.ema = ModelEMA(self.net, decay=EMA_DECAY, ramp=EMA_RAMP)
        self.optimizer = _optimizer(self.net, lr, WEIGHT_DECAY)
        self.data = MaskedSyntheticBatches(torchvision_spec("maskrcnn_tiny"), seed)
        self.step = 0

    def train_step(self, steps: int) -> dict:
        lr = learning_rate(self.step, steps, self.lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, samples = self.data.batch(self.batch)
        losses = self.net(list(images), torchvision_targets(samples))
        loss = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), GRAD_CLIP)
        self.optimizer.step()
        self.ema.update(self.net)
        self.step += 1
        parts = {name: round(float(value.detach()), 4) for name, value in losses.items()}
        return {"loss": float(loss.detach()), **parts, "lr": lr}
