"""The body of every stage process: build the stage, run it, report a user error in one line.

Exit codes the supervisor reads: 0 finished or stopped, 3 a user error (bad
source, weights, engine: message in ``<run dir>/<stage>.error``, never
restarted), anything else a crash (restarted).
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path

import zmq

from pipeline import security
from pipeline.heap import start_heap_trimmer
from pipeline.stage import StageIO, StageSpec, install_stop_handlers
from pipeline.stages.arguments import make_stage

EXIT_USER_ERROR = 3


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user asked for something that cannot work', not a crash."""
    from pipeline.config import ConfigError
    from pipeline.sources.base import SourceError
    from engines.extras import ExtraMissing
    errors: list = [SourceError, ConfigError, ValueError, FileNotFoundError, OSError, ExtraMissing]
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


def _let_the_fork_server_go() -> None:
    """multiprocessing hands every process forked from its fork server the server's 'alive' pipe, so the
    server runs while any of them does, and PR_SET_PDEATHSIG (the server is their parent) never fired:
    with every stage forked, a SIGKILLed supervisor left them all running (tests/test_cli_shutdown.py).
    Closed here, the server exits once the supervisor is gone, and this stage gets its SIGTERM."""
    from multiprocessing import forkserver
    server = forkserver._forkserver          # the module's singleton; no public API for this
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        server._forkserver_alive_fd = None
        os.close(fd)


def name_process(stage: str) -> None:
    """``sd:<stage>`` in top, ps -L and /proc/<pid>/comm (15 bytes at most), instead of 'python'
    for every stage; threads started afterwards (the engine's) inherit it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(15, f"sd:{stage}".encode()[:15])  # PR_SET_NAME
    except OSError:
        pass


def stage_main(spec: StageSpec, run_dir: str, log_level: str = "INFO", standby: bool = False) -> None:
    """``standby``: set up (model loaded) but bind nothing until the supervisor sends SIGUSR1
    (pipeline/standby.py); it then takes over from a stage that died."""
    _die_with_parent()
    _let_the_fork_server_go()
    name_process(spec.name)
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format=f"%(asctime)s {spec.name} %(levelname)s %(message)s")
    from engines.threads import limit_opencv_threads, stage_thread_env
    for name, value in stage_thread_env(spec.kind, spec.config["engine"]["threads"]).items():
        os.environ.setdefault(name, value)      # before torch / OpenCV start their pools
    limit_opencv_threads(spec.kind)
    ctx = zmq.Context()
    stage = None
    try:
        security.activate(spec.config.get("security"))   # CURVE on every tcp socket of this process
        stage = make_stage(spec)
        install_stop_handlers(stage)
        io = StageIO(spec, ctx, open_sockets=not standby)
        if spec.options.get("control"):
            from pipeline.telemetry import ControlListener
            stage.control = ControlListener(ctx, spec.options["control"])
        stage.setup(io)
        gc.freeze()    # the model and libraries loaded in setup: no GC pass walks them per frame or at exit
        if standby:
            if not wait_for_takeover(stage, Path(run_dir, f"{spec.name}.standby")):
                _close_quietly(stage, io, ctx)
                return
            io.open()
        Path(run_dir, f"{spec.name}.ready").touch()
    except user_errors() as exc:
        Path(run_dir, f"{spec.name}.error").write_text(f"{spec.name}: {exc}")
        _close_quietly(stage, locals().get("io"), ctx)
        raise SystemExit(EXIT_USER_ERROR)
    if spec.kind == "capture":     # started with the others; frames flow once the models are loaded
        wait_for_go(Path(run_dir), stage)
    trimmer = start_heap_trimmer()     # freed heap goes back to the OS: RSS follows what the stage holds
    try:
        stage.run()
    finally:
        if trimmer is not None:
            trimmer.stop()
        try:
            stage.close()
        finally:
            io.close(flush=not stage.stopping)
            if stage.control is not None:
                stage.control.close()
            ctx.term()
    if spec.kind in FAST_EXIT_KINDS:
        _exit_now()


# Stages whose every resource is released explicitly above: they skip the interpreter's teardown
# (seconds with torch loaded on a busy machine, past the supervisor's stop timeout). The sink and
# the branch keep the normal exit: plugins, writers and summaries may rely on finalisers.
FAST_EXIT_KINDS = ("capture", "preprocess", "inference", "postprocess")


def _exit_now() -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


GO_FILE = "go"


def wait_for_go(run_dir: Path, stage) -> None:
    """Block until the supervisor says every downstream stage is ready (or the stage is stopped)."""
    while not stage.stopping and not (run_dir / GO_FILE).exists():
        time.sleep(0.01)


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
    control = getattr(stage, "control", None)
    for close in (getattr(stage, "close", None), getattr(io, "close", None),
                  getattr(control, "close", None), ctx.term):
        try:
            if close is not None:
                close()
        except Exception:
            pass
