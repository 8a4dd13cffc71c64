"""train(): fit a YOLO or CenterNet net on the synthetic camera, checkpointing and resumable.

AdamW (no weight decay on norms and biases), linear warm-up then cosine decay
to 2% of the peak learning rate over ``steps``, gradient-norm clip 10, an EMA
of the weights (what gets exported). Every ``checkpoint_every`` steps and at
the end, ``<out>/last.pt`` holds model, EMA, optimizer, step and RNG states;
``resume=True`` continues from it (raising ``steps`` extends the schedule).
Deterministic for a seed: torch seeded, data from one numpy Generator,
``torch.use_deterministic_algorithms(True)`` while training. A family may
initialise part of the net first (CenterNet tiny: the shipped YOLO tiny backbone).
The result is ``<out>/<model>_<size>.pt`` in our weights format.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from engines.nets.weights_file import save_weights
from engines.training.checkpoint import load_checkpoint, save_checkpoint
from engines.training.data import SyntheticBatches
from engines.training.ema import ModelEMA
from engines.training.families import family

WARMUP_STEPS = 200
FINAL_LR_FRACTION = 0.02
GRAD_CLIP = 10.0


def learning_rate(step: int, steps: int, peak: float) -> float:
    warmup = min(WARMUP_STEPS, max(1, steps // 10))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimizer(net: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def _class_names() -> list[str]:
    from engines.core.labels import SYNTHETIC_CLASS_NAMES
    return list(SYNTHETIC_CLASS_NAMES)


def _check_args(model: str, size: str, steps: int, batch: int):
    fam = family(model)
    if size not in fam.sizes:
        raise ValueError(f"train: unknown {model} size {size!r}; expected one of {list(fam.sizes)}")
    if steps < 1 or batch < 1:
        raise ValueError(f"train: steps and batch must be >= 1, got steps={steps}, batch={batch}")
    return fam


def train(model: str, size: str = "tiny", *, out: Path, steps: int, batch: int = 16,
          seed: int = 0, resume: bool = False, lr: float | None = None, log_every: int = 50,
          progress: bool = True, checkpoint_every: int = 250, threads: int | None = None,
          scenes) -> Path:
    """Train ``model`` (yolo|centernet) of ``size`` for ``steps`` steps on frames of ``scenes``
    (a SceneFactory, engines/core/scene.py); returns the weights path."""
    fam = _check_args(model, size, steps, batch)
    return run_training(lambda out: _Run(fam, size, out, batch, seed, lr or fam.lr, scenes), model, size,
                        out=out, steps=steps, resume=resume, log_every=log_every,
                        progress=progress, checkpoint_every=checkpoint_every, threads=threads)


def run_training(make_run: Callable[[Path], "_Run"], model: str, size: str, *, out: Path,
                 steps: int, resume: bool, log_every: int, progress: bool,
                 checkpoint_every: int, threads: int | None) -> Path:
    """The body every trainer shares; returns ``<out>/<model>_<size>.pt`` (EMA weights).

    Creates ``out``, sets the thread count, turns deterministic algorithms on
    for the run (restoring the previous setting after), builds the run with
    ``make_run(out)``, resumes it from ``<out>/last.pt`` when asked and loops.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        run = make_run(out)
        if resume:
            run.restore(load_checkpoint(out, model, size))
        run.loop(steps, log_every, progress, checkpoint_every)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return save_weights(out / f"{model}_{size}.pt", model, size, run.class_names,
                        run.ema.module.state_dict())


class _Run:
    """The state of one training run (so the loop and checkpointing share it)."""
    grad_clip = GRAD_CLIP
    init_note: str | None = None     # how part of the net was initialised, if not at random

    def __init__(self, fam, size: str, out: Path, batch: int, seed: int, lr: float, scenes) -> None:
        torch.manual_seed(seed)
        self.fam, self.size, self.out, self.batch, self.seed, self.lr = fam, size, out, batch, seed, lr
        self.class_names = _class_names()
        self.net = fam.build(len(self.class_names), size).train()
        self.init_note = fam.init(self.net, size)
        self.ema = ModelEMA(self.net)
        self.optimizer = _optimizer(self.net, lr, fam.weight_decay)
        self.data = SyntheticBatches(fam.spec(size), seed, scenes=scenes)
        self.step = 0

    def state(self) -> dict:
        return {"model": self.fam.name, "size": self.size, "step": self.step, "seed": self.seed,
                "init": self.init_note or "random",
                "batch": self.batch, "lr": self.lr, "class_names": self.class_names,
                "state_dict": self.net.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "numpy": self.data.get_state()}}

    def restore(self, state: dict) -> None:
        self.net.load_state_dict(state["state_dict"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.data.set_state(state["rng"]["numpy"])
        self.step = int(state["step"])

    def train_step(self, steps: int) -> dict:
        lr = learning_rate(self.step, steps, self.lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, samples = self.data.batch(self.batch)
        loss, parts = self.compute_loss(images, samples)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.optimizer.step()
        self.ema.update(self.net)
        self.step += 1
        return {"loss": float(loss.detach()), **parts, "lr": lr}

    def compute_loss(self, images: torch.Tensor, samples: list) -> tuple[torch.Tensor, dict]:
        """(total loss, its named parts as floats) of one batch."""
        return self.fam.loss(self.net(images), samples, len(self.class_names))

    def loop(self, steps: int, log_every: int, progress: bool, checkpoint_every: int) -> None:
        bar = tqdm(total=steps, initial=min(self.step, steps), disable=not progress,
                   desc=f"{self.fam.name}-{self.size}", dynamic_ncols=True)
        started, first = time.time(), self.step
        with open(self.out / "train_log.jsonl", "a") as log:
            while self.step < steps:
                record = self.train_step(steps)
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                if log_every and (self.step % log_every == 0 or self.step == steps):
                    elapsed = time.time() - started
                    record.update(step=self.step, elapsed_s=round(elapsed, 1),
                                  s_per_step=round(elapsed / (self.step - first), 3))
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if self.step % checkpoint_every == 0 or self.step == steps:
                    save_checkpoint(self.out, self.state())
        bar.close()
