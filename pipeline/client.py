"""A small subscriber client: iterate over published detection messages.

    from pipeline.client import Subscriber
    with Subscriber("tcp://127.0.0.1:5556") as sub:
        for message in sub:
            print(message["frame_id"], message["detections"])
"""
from __future__ import annotations

from typing import Iterator

import zmq

from pipeline.schema import loads


class Subscriber:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:5556", streams: list[str] | None = None,
                 encoding: str = "json", timeout_s: float | None = None, curve: str | None = None) -> None:
        """``curve``: a key directory (run_pipeline.py keys): connect as a CURVE client with
        ``server.key`` and ``client.key_secret``. A client whose key the server does not accept
        receives nothing (``recv`` returns None after ``timeout_s``)."""
        self.encoding, self.timeout_ms = encoding, None if timeout_s is None else int(timeout_s * 1e3)
        self._ctx = zmq.Context()
        self.sock = self._ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 10_000)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 10)    # ms: started before the pipeline, it joins soon after the bind
        self.streams = {s.encode() for s in streams} if streams else None
        for stream in self.streams or [b""]:
            self.sock.setsockopt(zmq.SUBSCRIBE, stream)   # ZeroMQ matches prefixes; recv() checks exactly
        if curve:
            from pipeline.security import CurveKeys
            try:
                CurveKeys.open(curve).make_client(self.sock)
            except ValueError:
                self.close()
                raise
        self.sock.connect(endpoint)

    def recv(self) -> dict | None:
        """The next message, or None when ``timeout_s`` passed without one."""
        while True:
            if self.timeout_ms is not None and not self.sock.poll(self.timeout_ms):
                return None
            topic, payload = self.sock.recv_multipart()
            if self.streams is None or topic in self.streams:
                return loads(payload, self.encoding)

    def __iter__(self) -> Iterator[dict]:
        while True:
            message = self.recv()
            if message is None:
                return
            yield message

    def close(self) -> None:
        self.sock.close(0)
        self._ctx.term()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
