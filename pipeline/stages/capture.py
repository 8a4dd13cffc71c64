"""Capture: read a source and put each frame into a shared-memory slot.

Frames are decoded (or rendered) straight into the slot when the source can,
so the pixels are written once. Live sources drop on their own (their reader
thread keeps the newest frame); the hop policy decides the rest. A live stream
takes its next frame only once at most ``inflight - 1`` of its frames are still
on their way to the engine (the inference stage releases them: pipeline/stages/
preprocess.py passes the reference on), so a camera faster than the engine is
thinned here, before its frames are copied, sent and letterboxed, not after.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from pipeline.messages import Envelope
from pipeline.sources.factory import make_source
from pipeline.stage import Stage, StageIO
from pipeline.stream_report import CaptureReporter, FrameIdFile

log = logging.getLogger("streamdet.capture")


class CaptureStage(Stage):
    credit_timeout_s = 1.0     # a downstream stage that died holding a frame delays the next one this long at most

    def __init__(self, name: str, *, stream: str, source_cfg: dict, index: int = 0, policy: str = "wait",
                 id_file: str | None = None, telemetry: str | None = None, inflight: int = 1) -> None:
        """``source_cfg``: this stream's source settings; ``index``: its number (seeds);
        ``policy``: its own hop policy (wait: files, latest: live), carried on every frame;
        ``id_file``: where frame ids persist across restarts; ``telemetry``: the supervisor's endpoint;
        ``inflight``: a live stream's frames on their way to the engine at most (0: no limit)."""
        super().__init__(name)
        self.stream, self.source_cfg, self.index, self.policy = stream, source_cfg, index, policy
        self.id_file, self.telemetry, self.inflight = id_file, telemetry, inflight

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        self.source = make_source(self.source_cfg, self.index)
        self.source.open()
        self.last_id, self.sent, self.last_ts = -1, 0, None
        self.ids = FrameIdFile(self.id_file) if self.id_file else None
        self.first_id = self.ids.first_id if self.ids else 0   # a restarted capture continues the numbering
        self.reporter = None
        if self.telemetry:
            self.reporter = CaptureReporter(self.telemetry, self.name, self.stream, self)
            self.reporter.start()

    def run(self) -> None:
        io = self.io
        paced_by_engine = self.inflight > 0 and self.policy == "latest" and self.source.live
        while not self.stopping and not self._limit_reached():
            if paced_by_engine:        # the frame read next is the newest once the engine can take it
                io.wait_credit(self.inflight, lambda: self.stopping, self.credit_timeout_s)
            h, w = self.source.frame_shape
            arrays = io.alloc({"frame": ((h, w, 3), np.uint8)}, lambda: self.stopping)
            if arrays is None:
                break
            frame = self.source.read(out=arrays["frame"])
            if frame is None:
                break
            if frame.image is not arrays["frame"]:
                if frame.image.shape != arrays["frame"].shape:
                    log.info("%s: frame size changed to %s", self.stream, frame.image.shape)
                    continue   # next alloc uses the new frame_shape
                arrays["frame"][...] = frame.image
            frame_id = frame.frame_id + self.first_id
            env = Envelope(stream=self.stream, frame_id=frame_id, capture_ts=frame.capture_ts,
                           width=w, height=h, arrays=io.commit(arrays))
            t_out = time.time()
            env.stamp("capture", frame.capture_ts, t_out)   # from acquisition (live: grab) to send: no pacing waits
            env.meta["counts"] = {self.name: self._counts()}
            env.meta["policy"] = self.policy           # this stream's own: wait (files) or latest (live)
            if paced_by_engine:                        # hold this slot until the engine is done (preprocess.py)
                env.meta["credit"] = True
            if self.ids is not None:                   # before sending: a kill in between skips an id, never repeats one
                self.ids.write(frame_id)
            io.sender.send(env, lambda: self.stopping)
            self.last_id, self.last_ts = frame_id, frame.capture_ts
            self.sent += 1
        if not self.stopping:
            eos = Envelope.eos(self.stream, self.last_id)
            eos.meta["counts"] = {self.name: self._counts()}
            io.sender.send(eos, lambda: self.stopping)
            log.info("%s: end of stream after frame %d", self.stream, self.last_id)
            if self.reporter is not None:
                self.reporter.ended = True
        # Stay connected until the supervisor stops the run: a PUSH peer that disconnects while
        # the receiver's queue is full can lose what it had queued (measured here: the last
        # frames and the end-of-stream), whatever LINGER says.
        while not self.stopping:
            time.sleep(0.05)

    def _limit_reached(self) -> bool:
        """``max_frames`` sent, for every kind of source (ids continue across restarts, so does the count)."""
        limit = self.source_cfg.get("max_frames")
        return limit is not None and self.first_id + self.sent >= limit

    def _counts(self) -> dict:
        counts = self.io.counts()
        stats = self.source.stats
        counts["dropped"] += stats.dropped
        counts["corrupt"] = stats.corrupt
        counts["reconnects"] = stats.reconnects
        return counts

    def close(self) -> None:
        if getattr(self, "reporter", None) is not None:
            self.reporter.stop()
        if getattr(self, "ids", None) is not None:
            self.ids.close()
        if hasattr(self, "source"):
            self.source.close()
