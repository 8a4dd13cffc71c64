"""Serve a Starlette app with a real uvicorn server in a daemon thread, on a free loopback port."""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import uvicorn

from tests.helpers.rtsp import free_port


@contextlib.contextmanager
def serve(app, timeout_s: float = 20.0) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) while uvicorn serves ``app``."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=5))
    server.install_signal_handlers = lambda: None      # pytest owns the signals (uvicorn < 0.29 API)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
