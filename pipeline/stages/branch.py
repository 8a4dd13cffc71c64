"""The side branch: a heavier model (Mask R-CNN) on the frames the fast path hands it.

It never slows the fast path: postprocess offers frames without blocking, and
here a receiver thread copies the pixels of the newest offered frame as soon as
it arrives (the shared-memory slot is the fast path's and will be reused), so
only the newest pending frame is kept while the model runs. Results go to the
sink, which publishes them on their own topic, ``<stream>/<model>``, with the
frame id they belong to, so subscribers can join them to the fast-path boxes.
"""
from __future__ import annotations

import logging
import threading
import time

from engines.detect import Thresholds, detect_frames
from engines.detectors import from_card
from engines.select import make_engine
from pipeline.messages import EOS, Envelope
from pipeline.shm import StaleSlot
from pipeline.stage import Stage, StageIO

log = logging.getLogger("streamdet.branch")


class BranchStage(Stage):
    def __init__(self, name: str, *, card: dict, family: str, conf_threshold: float, engine: dict) -> None:
        """``engine``: make_engine's name, device and threads for the branch's own engine."""
        super().__init__(name)
        self.card, self.family, self.engine_options = card, family, dict(engine)
        self.thresholds = Thresholds(conf_threshold=conf_threshold, max_det=300)

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        self.detector = from_card(self.card)
        options = dict(self.engine_options)
        self.engine = make_engine(options.pop("name"), self.detector, **options)
        self.engine.warmup(1)
        self.pending: tuple[Envelope, object] | None = None
        self.replaced = 0          # offered frames overwritten by a newer one before the model got to them
        self.ready = threading.Condition()
        self.receiver = threading.Thread(target=self._receive, name="branch-receiver", daemon=True)
        self.receiver.start()

    def _receive(self) -> None:
        """Keep a private copy of the newest offered frame (the slot will be reused)."""
        io = self.io
        while not self.stopping:
            for env in io.receiver.recv(timeout_ms=100):
                if env.kind == EOS:
                    continue
                try:
                    pixels = io.array(env, "frame").copy()
                except (StaleSlot, KeyError, OSError, ValueError):   # ValueError: a reference that no longer fits
                    io.stale += 1
                    continue
                if not io.still_valid(env):
                    io.stale += 1
                    continue
                with self.ready:
                    self.replaced += self.pending is not None
                    self.pending = (env, pixels)
                    self.ready.notify()

    def run(self) -> None:
        while not self.stopping:
            with self.ready:
                if self.pending is None:
                    self.ready.wait(timeout=0.1)
                job, self.pending = self.pending, None
            if job is not None:
                self._run_model(*job)

    def _run_model(self, env: Envelope, pixels) -> None:
        t_in = time.time()
        (dets,) = detect_frames(self.detector, self.engine.infer, [pixels], thresholds=self.thresholds)
        out = env.forward()                      # no arrays: the fast path owns the frame slot
        out.detections = dets
        family = self.family
        out.meta.update(model=family, engine=self.engine.meta.name, branch=True, topic=f"{env.stream}/{family}")
        out.meta.setdefault("counts", {})[self.name] = dict(self.io.counts(), replaced=self.replaced)
        out.stamp("branch", t_in, time.time())
        self.io.sender.send(out, lambda: self.stopping)

    def close(self) -> None:
        self.stopping = True
        if hasattr(self, "receiver"):
            self.receiver.join(1)
        if hasattr(self, "engine"):
            self.engine.close()
