"""``ApiServer``: a Starlette app on uvicorn, in a daemon thread of the supervisor process.

uvicorn installs no signal handlers off the main thread, so SIGINT/SIGTERM stay
the supervisor's. The listening socket is bound in ``start`` (not by uvicorn),
so a port in use fails there with one clear line. With a token every request
must carry ``Authorization: Bearer <token>`` (compared in constant time);
``routes`` is a list of Starlette routes (streams, and others' metrics/preview).
"""
from __future__ import annotations

import hmac
import logging
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

log = logging.getLogger("streamdet.api")


class BearerToken:
    """Pure ASGI middleware: 401 unless the request carries the bearer token."""

    def __init__(self, app, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(got, self.expected):
                response = JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(routes: list, token: str | None = None) -> Starlette:
    middleware = [Middleware(BearerToken, token=token)] if token else []
    return Starlette(routes=list(routes), middleware=middleware)


class ApiServer:
    def __init__(self, host: str, port: int, routes: list, token: str | None = None) -> None:
        self.host, self.port, self.app = host, port, build_app(routes, token)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self, timeout_s: float = 10.0) -> "ApiServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot serve the HTTP API on {self.host}:{self.port}: {exc.strerror or exc}") from None
        sock.listen(64)
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="http-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the HTTP API on {self.host}:{self.port} did not start")
            time.sleep(0.01)
        log.info("HTTP API on http://%s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
