"""Start the stage processes, watch them, restart a stage that dies, shut everything down cleanly.

One supervisor per run. It owns the run's temporary folder (ipc sockets,
error files, summary) and the shared-memory name prefix, so after the run, by
end of stream, SIGINT/SIGTERM or a fatal error, it can remove every socket file
and segment the stages made, even ones it had to SIGKILL.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
from multiprocessing import forkserver
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.reaper import reap_resource_tracker, stop_forkserver
from pipeline.run_plan import build_specs, model_cards, runs_here
from pipeline.shm import remove_orphan_segments, remove_run_segments
from pipeline.source_list import stream_sources
from pipeline.worker import EXIT_USER_ERROR, GO_FILE, stage_main

log = logging.getLogger("streamdet.supervisor")
def remove_orphan_run_dirs() -> None:
    """Remove run folders (``streamdet-<pid>-*`` in the temp dir) of supervisors that were killed."""
    for path in Path(tempfile.gettempdir()).glob("streamdet-*-*"):
        pid = path.name.split("-")[1]
        if path.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


STAGE_PRELOAD = ["numpy", "cv2", "zmq", "msgpack", "pipeline.worker", "pipeline.stages.capture",
                 "pipeline.sources.factory", "pipeline.sources.synthetic", "pipeline.sources.video",
                 "pipeline.sources.network"]


def stage_context():
    """Every stage starts from one fork server that has the modules all stages share imported
    (NumPy, OpenCV, ZeroMQ, the stage code); ``run`` starts it first, so that its imports overlap
    the streams' and the API's set-up. On 2 cores the default run's first message came 0.4-1.2 s
    sooner than with a freshly spawned interpreter per stage, and a stream added at runtime
    publishes within a second or two. Nothing that starts threads or devices is preloaded: each
    stage imports its engine (ONNX Runtime, torch, CUDA) and its tracker after the fork."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(STAGE_PRELOAD)
    return context


class Supervisor:
    def __init__(self, cfg: dict, log_level: str = "INFO", warmup_frames: int = 0,
                 api: bool = False, api_required: bool = True, api_routes: list = ()) -> None:
        """``api``: serve the HTTP API (cfg["api"]); ``api_required``: a port in use is an error,
        else a warning; ``api_routes``: more Starlette routes for the same app."""
        from pipeline.stream_manager import StreamManager
        self.cfg, self.log_level = cfg, log_level
        self.api, self.api_required, self.api_routes = api, api_required, list(api_routes)
        remove_orphan_run_dirs()
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"streamdet-{os.getpid()}-"))
        self.prefix = f"streamdet-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            cards = model_cards(cfg)
        except Exception:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        self.specs = {s.name: s for s in build_specs(cfg, self.run_dir, self.prefix, cards)
                      if runs_here(s, cfg["supervisor"]["stages"])}
        if "sink" in self.specs:    # a host without the sink runs until it is stopped
            self.specs["sink"].options["warmup_frames"] = warmup_frames
        self.procs: dict[str, mp.Process] = {}
        self.restarts: dict[str, int] = {name: 0 for name in self.specs}
        self.finished: set[str] = set()
        self.stop_reason: str | None = None
        self.summary: dict = {}
        self._mp = stage_context()
        self.standby = None
        if cfg["supervisor"]["standby"]:
            from pipeline.standby import StandbyPool
            self.standby = StandbyPool(self._mp, self.specs, self.run_dir, log_level)
        self.streams = StreamManager(self, stream_sources(cfg))

    def downstream_names(self) -> list[str]:
        return [n for n in self.specs if self.specs[n].kind != "capture"]

    def snapshot(self) -> dict:
        """Streams, stages, histograms and run info (shape: README, "Many streams and the HTTP API")."""
        return self.streams.snapshot()

    def _start_api(self) -> None:
        api = self.cfg["api"]
        try:
            self.streams.start_api(api["host"], api["port"], api["token"], self.api_routes)
        except OSError as exc:
            if self.api_required:
                raise PipelineError(str(exc)) from None
            log.warning("%s; running without it", exc)

    # -- life cycle -------------------------------------------------------
    def run(self, timeout_s: float | None = None) -> dict:
        """Start, watch until the end, shut down; returns the summary (raises PipelineError)."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        log.info("run folder %s, shared memory prefix %s", self.run_dir, self.prefix)
        orphans = remove_orphan_segments()
        if orphans:
            log.warning("removed %d shared-memory segments left by a killed run", len(orphans))
        try:
            forkserver.ensure_running()        # its imports overlap the streams' and the API's set-up
            self.streams.open()
            if self.api:
                self._start_api()
            downstream = self.downstream_names()
            for name in reversed(downstream):            # sink first: downstream sockets bind first
                self._spawn(name)
            for name in self.specs:                      # captures start now too (in parallel), but
                if name not in downstream:               # read frames only after the go file below
                    self._spawn(name)
            if self._wait_ready(downstream, timeout_s):  # frames flow only once models are loaded
                (self.run_dir / GO_FILE).touch()
                if self.standby is not None:
                    self.standby.fill()
                self._watch(timeout_s)
        finally:
            self.shutdown()
            for s, handler in old.items():
                signal.signal(s, handler)
        return self.summary

    def _on_signal(self, signum, frame) -> None:
        self.stop_reason = signal.Signals(signum).name

    def _spawn(self, name: str) -> None:
        proc = self._mp.Process(target=stage_main, name=name,
                                 args=(self.specs[name], str(self.run_dir), self.log_level))
        proc.start()
        self.procs[name] = proc
        log.info("started stage %s pid %d", name, proc.pid)

    def _wait_ready(self, names: list[str], timeout_s: float | None) -> bool:
        """Wait until every stage in ``names`` finished its setup; False if stopped meanwhile."""
        deadline = time.monotonic() + (timeout_s or self.cfg["supervisor"]["ready_timeout_s"])
        while self.stop_reason is None:
            if all((self.run_dir / f"{n}.ready").exists() for n in names):
                return True
            if time.monotonic() > deadline:
                raise PipelineError(f"stages not ready after {self.cfg['supervisor']['ready_timeout_s']} s: "
                                    + ", ".join(n for n in names if not (self.run_dir / f"{n}.ready").exists()))
            for name in names:
                if not self.procs[name].is_alive():
                    self._on_exit(name, self.procs[name].exitcode)
            self.streams.tick(50, commands=False)
        return False

    def _watch(self, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.stop_reason is None:
            if deadline is not None and time.monotonic() > deadline:
                self.stop_reason = "timeout"
                break
            for name, proc in list(self.procs.items()):
                if name not in self.finished and not proc.is_alive():
                    self._on_exit(name, proc.exitcode)
            if "sink" in self.finished:
                return
            self.streams.tick(50)

    def _on_exit(self, name: str, code: int | None) -> None:
        if self.stop_reason is not None:
            return
        if self.specs[name].kind == "capture":     # each stream on its own: retried, restarted alone
            self.streams.on_capture_exit(name, code, EXIT_USER_ERROR)
            return
        if code == 0:
            self.finished.add(name)
            return
        if code == EXIT_USER_ERROR:
            error_file = self.run_dir / f"{name}.error"
            message = error_file.read_text() if error_file.exists() else f"{name} failed"
            raise PipelineError(message)
        self.restarts[name] = self.restarts.get(name, 0) + 1
        if self.restarts[name] > self.cfg["supervisor"]["max_restarts"]:
            raise PipelineError(f"stage {name} died {self.restarts[name]} times "
                                f"(last exit code {code}); giving up")
        log.warning("stage %s died (exit code %s); restart %d", name, code, self.restarts[name])
        spare = self.standby.take(name) if self.standby is not None else None
        if spare is None:
            self._spawn(name)
            return
        self.procs[name] = spare
        log.info("started stage %s pid %d (its standby took over)", name, spare.pid)
        self.standby.fill()

    def shutdown(self) -> None:
        """SIGTERM every live stage, SIGKILL what is left after the timeout, remove all traces."""
        self.streams.close()
        if self.standby is not None:
            self.standby.stop()
        for name, proc in self.procs.items():
            if not proc.is_alive():
                continue
            if (self.run_dir / f"{name}.ready").exists():
                proc.terminate()
            else:                   # still loading its model: it cannot stop itself yet
                proc.kill()
        deadline = time.monotonic() + self.cfg["supervisor"]["stop_timeout_s"]
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("stage %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join(2)
        if not any(proc.is_alive() for proc in self.procs.values()):
            stop_forkserver()
            reap_resource_tracker()
        remove_run_segments(self.prefix)
        path = self.run_dir / "summary.json"
        self.summary = json.loads(path.read_text()) if path.exists() else {}
        self.summary["restarts"] = sum(self.restarts.values())
        self.summary["stop_reason"] = self.stop_reason or "end of stream"
        shutil.rmtree(self.run_dir, ignore_errors=True)
