"""The live preview's whole chain in one process, on real ZeroMQ sockets and msgpack.

A "sink" thread draws synthetic frames with boxes and feeds ``SinkPreview``; it PUSHes telemetry
and SUBscribes to control, as the sink stage does. A "supervisor" thread PULLs telemetry into
``PreviewRelay`` -> ``PreviewHub`` and PUBlishes the watched streams. The hub serves HTTP.
The envelope (msgpack dict with "kind", the sink adding "stage") is the one of pipeline/telemetry.py.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

from pipeline.api.preview import PreviewHub
from pipeline.api.preview_relay import PreviewRelay
from pipeline.sinks.preview_tap import SinkPreview

GREY = 90
BOXES = {"cam0": ([100, 120, 260, 300], 0), "cam1": ([380, 60, 600, 200], 5)}


def scene(stream: str) -> tuple[np.ndarray, dict]:
    box, class_id = BOXES[stream]
    message = {"stream": stream, "detections": [
        {"box": box, "score": 0.87, "class_id": class_id, "label": "square", "track_id": 12}]}
    return np.full((480, 640, 3), GREY, np.uint8), message


class PreviewChain:
    def __init__(self, run_dir: Path, fps: float = 10.0, frame_interval_s: float = 0.02) -> None:
        self.telemetry, self.control = f"ipc://{run_dir}/telemetry.sock", f"ipc://{run_dir}/control.sock"
        self.hub = PreviewHub(fps)
        self.sink: SinkPreview | None = None
        self.relay: PreviewRelay | None = None
        self.fps, self.frame_interval_s = fps, frame_interval_s
        self.frames = 0
        self.stop = threading.Event()
        self.ctx = zmq.Context()
        self.threads: list[threading.Thread] = []
        self.extra: list[dict] = []                    # raw telemetry to inject from the sink thread

    def __enter__(self) -> "PreviewChain":
        ready = threading.Event()
        self.threads.append(threading.Thread(target=self._supervisor, args=(ready,), daemon=True))
        self.threads[0].start()
        if not ready.wait(10):
            raise RuntimeError("the supervisor side did not bind")
        self.threads.append(threading.Thread(target=self._sink, daemon=True))
        self.threads[1].start()
        return self

    def __exit__(self, *exc) -> None:
        self.hub.close()
        self.stop.set()
        for thread in self.threads:
            thread.join(10)
        self.ctx.term()

    def _supervisor(self, ready: threading.Event) -> None:
        pull, pub = self.ctx.socket(zmq.PULL), self.ctx.socket(zmq.PUB)
        for sock, endpoint in ((pull, self.telemetry), (pub, self.control)):
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(endpoint)
        self.relay = PreviewRelay(self.hub, lambda kind, **f: pub.send(msgpack.packb({"kind": kind, **f})),
                                  heartbeat_s=0.5)
        ready.set()
        while not self.stop.is_set():
            if pull.poll(20):
                while True:
                    try:
                        self.relay.on_telemetry(msgpack.unpackb(pull.recv(zmq.NOBLOCK)))
                    except zmq.Again:
                        break
            self.relay.tick()
        pull.close()
        pub.close()

    def _sink(self) -> None:
        push, sub = self.ctx.socket(zmq.PUSH), self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        for sock, endpoint in ((push, self.telemetry), (sub, self.control)):
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
        push.setsockopt(zmq.SNDHWM, 50)

        def send(kind: str, **fields) -> None:
            try:
                push.send(msgpack.packb({"kind": kind, "stage": "sink", **fields}), zmq.NOBLOCK)
            except zmq.Again:
                pass

        self.sink = SinkPreview(self.fps, send)
        while not self.stop.wait(self.frame_interval_s):
            while True:
                try:
                    self.sink.on_control(msgpack.unpackb(sub.recv(zmq.NOBLOCK)))
                except zmq.Again:
                    break
            while self.extra:
                push.send(msgpack.packb(self.extra.pop()))
            for stream in BOXES:
                frame, message = scene(stream)
                self.sink.after_frame(stream, frame, message, time.monotonic())
            self.frames += 1
        self.sink.close()
        push.close()
        sub.close()
