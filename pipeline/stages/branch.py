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

from engines.detectors import make_detector
from engines.ops.letterbox import letterbox_numpy
from engines.select import make_engine
from pipeline.messages import EOS, Envelope
from pipeline.shm import StaleSlot
from pipeline.stage import Stage, StageIO
from pipeline.stages.postprocess import masks_to_rle

log = logging.getLogger("streamdet.branch")


class BranchStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        cfg = self.spec.config["branch"]
        self.detector = make_detector(cfg["model"], cfg["weights"], cfg["size"])
        self.engine = make_engine(cfg["engine"], self.detector, device=cfg["device"],
                                  threads=cfg["threads"])
        self.engine.warmup(1)
        self.conf = cfg["conf_threshold"]
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
        tensor, box = letterbox_numpy(pixels, self.detector.spec)
        outputs = self.engine.infer(tensor[None])
        dets = self.detector.decode(outputs, 0, conf_threshold=self.conf)
        dets.xyxy = box.to_source(dets.xyxy, env.height, env.width)
        dets.labels = self.detector.class_names
        if dets.mask is not None and not isinstance(dets.mask, list):
            dets.mask = masks_to_rle(dets.mask, box, env.height, env.width)
        out = env.forward()                      # no arrays: the fast path owns the frame slot
        out.detections = dets
        family = self.spec.config["branch"]["model"]
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
