"""The body of every stage process: build the stage, run it, report a user error in one line.

Exit codes the supervisor reads: 0 finished or stopped, 3 a user error (bad
source, weights, engine: message in ``<run dir>/<stage>.error``, never
restarted), anything else a crash (restarted).
"""
from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

import zmq

from pipeline import security
from pipeline.stage import StageIO, StageSpec, install_stop_handlers

EXIT_USER_ERROR = 3
STAGE_CLASSES = {
    "capture": "pipeline.stages.capture:CaptureStage",
    "preprocess": "pipeline.stages.preprocess:PreprocessStage",
    "inference": "pipeline.stages.inference:InferenceStage",
    "postprocess": "pipeline.stages.postprocess:PostprocessStage",
    "sink": "pipeline.stages.sink:SinkStage",
    "branch": "pipeline.stages.branch:BranchStage",
}


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user asked for something that cannot work', not a crash."""
    from pipeline.config import ConfigError
    from pipeline.sources.base import SourceError
    errors: list = [SourceError, ConfigError, ValueError, FileNotFoundError, OSError]
    try:
        from engines.base import EngineUnavailable
        errors.append(EngineUnavailable)
    except ImportError:
        pass
    return tuple(errors)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process if the supervisor dies: no orphans even after kill -9."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stage_main(spec: StageSpec, run_dir: str, log_level: str = "INFO", standby: bool = False) -> None:
    """``standby``: set up (model loaded) but bind nothing until the supervisor sends SIGUSR1
    (pipeline/standby.py); it then takes over from a stage that died."""
    _die_with_parent()
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format=f"%(asctime)s {spec.name} %(levelname)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", str(spec.config["engine"]["threads"]))
    module, _, cls_name = STAGE_CLASSES[spec.kind].partition(":")
    stage = getattr(importlib.import_module(module), cls_name)(spec)
    install_stop_handlers(stage)
    ctx = zmq.Context()
    ready = False
    try:
        security.activate(spec.config.get("security"))   # CURVE on every tcp socket of this process
        io = StageIO(spec, ctx, open_sockets=not standby)
        stage.setup(io)
        if standby:
            if not wait_for_takeover(stage, Path(run_dir, f"{spec.name}.standby")):
                _close_quietly(stage, io, ctx)
                return
            io.open()
        Path(run_dir, f"{spec.name}.ready").touch()
        ready = True
    except user_errors() as exc:
        Path(run_dir, f"{spec.name}.error").write_text(f"{spec.name}: {exc}")
        _close_quietly(stage, locals().get("io"), ctx)
        raise SystemExit(EXIT_USER_ERROR)
    try:
        stage.run()
    finally:
        try:
            stage.close()
        finally:
            io.close(flush=not stage.stopping)
            ctx.term()


def wait_for_takeover(stage, marker: Path) -> bool:
    """Say "standing by" (the marker file), then wait for SIGUSR1; False when stopped instead."""
    go = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: go.append(signum))
    marker.touch()
    while not go and not stage.stopping:
        time.sleep(0.005)
    return bool(go) and not stage.stopping


def _close_quietly(stage, io: StageIO | None, ctx: zmq.Context) -> None:
    """After a failed setup: release what exists; a half-built stage must not hide the user error."""
    for close in (stage.close, getattr(io, "close", None), ctx.term):
        try:
            if close is not None:
                close()
        except Exception:
            pass
