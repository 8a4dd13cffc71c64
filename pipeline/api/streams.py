"""The /streams, /health and /ready routes over a controller (the supervisor's ``StreamManager``).

The controller has ``snapshot()``, ``is_ready()``, ``add_stream(body) -> dict``
and ``remove_stream(name)``; the last two raise ``StreamRequestError(status,
reason)`` for a request that cannot be done. They may block briefly, so they
run in Starlette's thread pool, never on the event loop.
"""
from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LIST_FIELDS = ("uri", "state", "fps", "frames", "dropped", "reconnects", "last_frame_ts")
MAX_BODY_BYTES = 64 * 1024


class StreamRequestError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def stream_list(snapshot: dict) -> dict:
    """GET /streams: the snapshot's streams as a list of public fields."""
    return {"streams": [{"name": name, **{k: s[k] for k in LIST_FIELDS}}
                        for name, s in snapshot["streams"].items()]}


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def stream_routes(control) -> list[Route]:
    async def list_streams(request: Request) -> JSONResponse:
        return JSONResponse(stream_list(await run_in_threadpool(control.snapshot)))

    async def add_stream(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"body is not valid JSON: {str(exc).splitlines()[0]}")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object {\"name\": ..., \"uri\": ..., <per-source keys>}")
        try:
            created = await run_in_threadpool(control.add_stream, body)
        except StreamRequestError as exc:
            return _error(exc.status, exc.reason)
        return JSONResponse(created, status_code=201)

    async def remove_stream(request: Request) -> Response:
        try:
            await run_in_threadpool(control.remove_stream, request.path_params["name"])
        except StreamRequestError as exc:
            return _error(exc.status, exc.reason)
        return Response(status_code=204)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> JSONResponse:
        if await run_in_threadpool(control.is_ready):
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False}, status_code=503)

    return [Route("/streams", list_streams, methods=["GET"]),
            Route("/streams", add_stream, methods=["POST"]),
            Route("/streams/{name}", remove_stream, methods=["DELETE"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"])]
