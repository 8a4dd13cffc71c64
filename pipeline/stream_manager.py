"""Streams at runtime: telemetry in, control out, captures started, retried, added and removed.

The supervisor owns one ``StreamManager``. Everything that touches processes or
sockets runs on the supervisor's thread in ``tick()``; the HTTP API's threads
hand their requests over through a queue (``_call``) and wait for the answer.

- A capture that cannot open its source (exit code 3) puts its stream
  ``offline`` and is retried with exponential backoff. Only a run that was
  started with a single source (and got no other one over the API) still ends
  with that one-line error, as before.
- A capture that crashes is restarted alone; frame ids continue (FrameIdFile).
- When the sink has seen a stream's end, that stream's capture is stopped.
- DELETE: the new stream set goes out on the control channel, the sink
  acknowledges it (from then on it publishes nothing of that stream), the
  capture is stopped and its ring unlinked.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout

import zmq

from pipeline.api.streams import StreamRequestError
from pipeline.stream_table import StreamTable
from pipeline.telemetry import ControlPublisher, TelemetryReceiver, control_endpoint, telemetry_endpoint

log = logging.getLogger("streamdet.streams")
BACKOFF_S = (0.5, 10.0)        # offline retries: first delay, longest delay
HEARTBEAT_S = 1.0


class StreamManager:
    def __init__(self, sup, sources: list[dict]) -> None:
        self.sup = sup
        cfg = sup.cfg
        self.table = StreamTable({"model": cfg["model"]["name"], "engine": cfg["engine"]["name"],
                                  "device": cfg["engine"]["device"]})
        for entry in sources:
            self.table.add(entry)
        self.single_source = len(sources) == 1
        self.added_at_runtime = False
        self.commands: queue.Queue = queue.Queue()
        self.seq = 0
        self._next_heartbeat = 0.0
        self._main = threading.current_thread()
        self.stop_sent: set[str] = set()       # captures asked to stop after their stream ended
        self.ctx = self.telemetry = self.control = self.api = None
        self.preview_hub = self.preview_relay = None     # the live preview, while the API runs

    # -- life cycle (supervisor thread) ----------------------------------
    def open(self) -> None:
        self.ctx = zmq.Context()
        self.telemetry = TelemetryReceiver(self.ctx, telemetry_endpoint(self.sup.run_dir))
        self.control = ControlPublisher(self.ctx, control_endpoint(self.sup.run_dir))

    def start_api(self, host: str, port: int, token: str | None, extra_routes: list = ()) -> None:
        from pipeline.api.server import ApiServer
        from pipeline.api.streams import stream_routes
        routes = stream_routes(self) + self._operate_routes() + list(extra_routes)
        self.api = ApiServer(host, port, routes, token).start()

    def _operate_routes(self) -> list:
        """GET /metrics and the live preview (issue 13); frames arrive on telemetry, see ``drain``."""
        from pipeline.api.metrics import metrics_routes
        from pipeline.api.preview import PreviewHub, preview_routes
        from pipeline.api.preview_relay import PreviewRelay
        self.preview_hub = PreviewHub(self.sup.cfg["api"]["preview_fps"])
        self.preview_relay = PreviewRelay(self.preview_hub, self.control.publish)
        return metrics_routes(self.snapshot) + preview_routes(self.preview_hub, self.snapshot)

    def close(self) -> None:
        if self.preview_hub is not None:
            self.preview_hub.close()          # open MJPEG responses never end by themselves
        if self.api is not None:
            self.api.stop()
            self.api = None
        while not self.commands.empty():          # nobody will run them now
            _, _, future = self.commands.get_nowait()
            future.set_exception(StreamRequestError(503, "the pipeline is stopping"))
        for sock in (self.telemetry, self.control):
            if sock is not None:
                sock.close()
        if self.ctx is not None:
            self.ctx.term()
        self.ctx = self.telemetry = self.control = None

    def tick(self, timeout_ms: int = 50, commands: bool = True) -> None:
        """Read telemetry (waiting up to ``timeout_ms``), run API requests, retry offline streams."""
        self.drain(timeout_ms)
        self._stop_ended_captures()
        while commands and not self.commands.empty():
            fn, args, future = self.commands.get_nowait()
            try:
                future.set_result(fn(*args))
            except Exception as exc:
                future.set_exception(exc)
        for name in self.table.offline_due():
            self._respawn(name)
        if time.monotonic() >= self._next_heartbeat:   # late joiners and restarted stages catch up
            self.publish_streams(bump=False)

    def drain(self, timeout_ms: int) -> None:
        relay = self.preview_relay
        for message in self.telemetry.drain(timeout_ms):
            if relay is None or not relay.on_telemetry(message):
                self.table.apply(message)
        if relay is not None:
            relay.tick()              # the watched streams go out from this thread only

    def publish_streams(self, bump: bool = True) -> int:
        self.seq += bump
        names = self.table.names()
        for spec in self.sup.specs.values():
            spec.options["stream_names"] = names
        self.control.publish("streams", names=names, seq=self.seq)
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        return self.seq

    # -- capture processes ------------------------------------------------
    def on_capture_exit(self, name: str, code: int | None, user_error: int) -> None:
        """Called by the supervisor when capture ``name`` exited (raises PipelineError when fatal)."""
        from pipeline.errors import PipelineError
        stream = name.split(".", 1)[1]
        record = self.table.get(stream)
        if record is None or code == 0:
            self.sup.finished.add(name)
            return
        if code == user_error:
            error_file = self.sup.run_dir / f"{name}.error"
            message = error_file.read_text() if error_file.exists() else f"{name} failed"
            if self.single_source and not self.added_at_runtime and not record.ever_live:
                raise PipelineError(message)
            record.attempts += 1
            delay = min(BACKOFF_S[0] * 2 ** (record.attempts - 1), BACKOFF_S[1])
            log.warning("%s; stream %s offline, next attempt in %.1f s", message, stream, delay)
            record.state, record.retry_at = "offline", time.monotonic() + delay
            self.sup.finished.add(name)        # not watched until the retry starts it again
            return
        self.sup.restarts[name] = self.sup.restarts.get(name, 0) + 1
        log.warning("capture of %s died (exit code %s); restart %d", stream, code, self.sup.restarts[name])
        self._respawn(stream)

    def _respawn(self, stream: str) -> None:
        record = self.table.get(stream)
        record.reconnects_before += record.reconnects
        record.reconnects, record.retry_at = 0, None
        if record.state != "offline":
            record.state = "starting"
        name = f"capture.{stream}"
        (self.sup.run_dir / f"{name}.error").unlink(missing_ok=True)
        self.sup.finished.discard(name)
        self.sup._spawn(name)

    def _stop_ended_captures(self) -> None:
        for stream in self.table.names():
            record = self.table.get(stream)
            proc = self.sup.procs.get(f"capture.{stream}")
            if record is not None and record.ended and proc is not None and proc.is_alive() \
                    and stream not in self.stop_sent:
                self.stop_sent.add(stream)   # its end reached the sink: nothing left to send
                proc.terminate()

    # -- requests (any thread; run on the supervisor's) ---------------------
    def _call(self, fn, *args, timeout_s: float = 15.0):
        if threading.current_thread() is self._main:
            return fn(*args)
        future: Future = Future()
        self.commands.put((fn, args, future))
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            raise StreamRequestError(503, "the supervisor did not answer in time "
                                          "(still loading models?); try again") from None

    def snapshot(self) -> dict:
        return self.table.snapshot(dict(self.sup.restarts))

    def is_ready(self) -> bool:
        return all((self.sup.run_dir / f"{n}.ready").exists() for n in self.sup.downstream_names())

    def add_stream(self, body: dict) -> dict:
        from pipeline.stream_requests import add_stream
        return self._call(add_stream, self, body)

    def remove_stream(self, name: str) -> None:
        from pipeline.stream_requests import remove_stream
        return self._call(remove_stream, self, name)
