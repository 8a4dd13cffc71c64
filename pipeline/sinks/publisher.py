"""ZeroMQ PUB of public detection messages: multipart [topic, payload].

The topic is the stream name for the fast path and ``<stream>/<model>`` for
side-branch results (e.g. ``cam0/maskrcnn``).
"""
from __future__ import annotations

import zmq

from pipeline.schema import dumps
from pipeline.transport import Endpoint, make_socket


class Publisher:
    def __init__(self, ctx: zmq.Context, endpoint: str, encoding: str = "json", *,
                 allow_remote: bool = False, hwm: int = 1000) -> None:
        self.encoding = encoding
        self.sock = make_socket(ctx, zmq.PUB, Endpoint.parse(endpoint), bind=True, hwm=hwm,
                                allow_remote=allow_remote)

    def write(self, message: dict, frame=None, topic: str | None = None) -> None:
        topic = topic or message["stream"]
        self.sock.send_multipart([topic.encode(), dumps(message, self.encoding)])

    def close(self) -> None:
        self.sock.close(0)
