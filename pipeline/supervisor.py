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
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

from pipeline.reaper import reap_resource_tracker
from pipeline.shm import remove_orphan_segments, remove_run_segments
from pipeline.sources.factory import is_live
from pipeline.stage import StageSpec
from pipeline.stages.gpu_preprocess import gpu_preprocess_wanted
from pipeline.worker import EXIT_USER_ERROR, stage_main

log = logging.getLogger("streamdet.supervisor")
CHAIN = ("preprocess", "inference", "postprocess", "sink")


def _runs_here(spec: StageSpec, stages: list) -> bool:
    """``supervisor.stages`` splits a pipeline over hosts: e.g. [capture, preprocess] on one."""
    return not stages or spec.kind in stages or spec.name in stages


def remove_orphan_run_dirs() -> None:
    """Remove run folders (``streamdet-<pid>-*`` in the temp dir) of supervisors that were killed."""
    for path in Path(tempfile.gettempdir()).glob("streamdet-*-*"):
        pid = path.name.split("-")[1]
        if path.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


class PipelineError(RuntimeError):
    """The run cannot go on; the message is one line for the user."""


def hop_policy(cfg: dict) -> str:
    policy = cfg["transport"]["policy"]
    if policy != "auto":
        return policy
    live = cfg["source"]["live"]
    return "latest" if (live if live is not None else is_live(cfg["source"]["uri"])) else "wait"


def stage_endpoints(cfg: dict, run_dir: Path) -> dict[str, str]:
    """The endpoint each downstream stage binds: config overrides, else ipc or tcp defaults."""
    transport = cfg["transport"]
    endpoints = {}
    for i, stage in enumerate(CHAIN + ("branch",)):
        if transport["mode"] == "tcp":
            endpoints[stage] = f"tcp://127.0.0.1:{transport['base_port'] + i}"
        else:
            endpoints[stage] = f"ipc://{run_dir}/{stage}.sock"
    endpoints.update(transport["endpoints"])
    return endpoints


def build_specs(cfg: dict, run_dir: Path, prefix: str) -> list[StageSpec]:
    eps, policy, t = stage_endpoints(cfg, run_dir), hop_policy(cfg), cfg["transport"]
    streams = cfg["source"]["streams"]
    common = dict(policy=policy, hwm=t["hwm"], run_prefix=prefix, nslots=t["slots"],
                  allow_remote=t["allow_remote"], config=cfg)
    specs = [StageSpec(f"capture.cam{i}", "capture", None, eps["preprocess"],
                       options={"stream": f"cam{i}", "index": i}, **common) for i in range(streams)]
    outputs = dict(zip(CHAIN, CHAIN[1:] + (None,)))
    for stage in CHAIN:
        out = eps[outputs[stage]] if outputs[stage] else None
        specs.append(StageSpec(stage, stage, eps[stage], out, **common))
    branch = bool(cfg["branch"]["model"])
    specs[streams].options["keep_frames"] = bool(cfg["sinks"]["video"]) or branch
    specs[streams].options["gpu_preprocess"] = gpu_preprocess_wanted(cfg["engine"])
    specs[-1].options.update(streams=streams, summary_path=str(run_dir / "summary.json"))
    if branch:   # newest frame wins on the way in; results join the sink's input
        specs[-2].options["branch_endpoint"] = eps["branch"]
        specs.append(StageSpec("branch", "branch", eps["branch"], eps["sink"],
                               **dict(common, policy="latest")))
    return specs


class Supervisor:
    def __init__(self, cfg: dict, log_level: str = "INFO", warmup_frames: int = 0) -> None:
        self.cfg, self.log_level = cfg, log_level
        remove_orphan_run_dirs()
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"streamdet-{os.getpid()}-"))
        self.prefix = f"streamdet-{os.getpid()}-{secrets.token_hex(3)}"
        self.specs = {s.name: s for s in build_specs(cfg, self.run_dir, self.prefix)
                      if _runs_here(s, cfg["supervisor"]["stages"])}
        if "sink" in self.specs:    # a host without the sink runs until it is stopped
            self.specs["sink"].options["warmup_frames"] = warmup_frames
        self.procs: dict[str, mp.Process] = {}
        self.restarts: dict[str, int] = {name: 0 for name in self.specs}
        self.finished: set[str] = set()
        self.stop_reason: str | None = None
        self.summary: dict = {}
        self._mp = mp.get_context("spawn")
        self.standby = None
        if cfg["supervisor"]["standby"]:
            from pipeline.standby import StandbyPool
            self.standby = StandbyPool(self._mp, self.specs, self.run_dir, log_level)

    # -- life cycle -------------------------------------------------------
    def run(self, timeout_s: float | None = None) -> dict:
        """Start, watch until the end, shut down; returns the summary (raises PipelineError)."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        log.info("run folder %s, shared memory prefix %s", self.run_dir, self.prefix)
        orphans = remove_orphan_segments()
        if orphans:
            log.warning("removed %d shared-memory segments left by a killed run", len(orphans))
        try:
            downstream = [n for n in self.specs if self.specs[n].kind != "capture"]
            for name in reversed(downstream):            # sink first: downstream sockets bind first
                self._spawn(name)
            if self._wait_ready(downstream, timeout_s):  # frames flow only once models are loaded
                for name in self.specs:
                    if name not in downstream:
                        self._spawn(name)
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
            time.sleep(0.05)
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
            time.sleep(0.05)

    def _on_exit(self, name: str, code: int | None) -> None:
        if self.stop_reason is not None:
            return
        if code == 0:
            self.finished.add(name)
            return
        if code == EXIT_USER_ERROR:
            error_file = self.run_dir / f"{name}.error"
            message = error_file.read_text() if error_file.exists() else f"{name} failed"
            raise PipelineError(message)
        self.restarts[name] += 1
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
            reap_resource_tracker()
        remove_run_segments(self.prefix)
        path = self.run_dir / "summary.json"
        self.summary = json.loads(path.read_text()) if path.exists() else {}
        self.summary["restarts"] = sum(self.restarts.values())
        self.summary["stop_reason"] = self.stop_reason or "end of stream"
        shutil.rmtree(self.run_dir, ignore_errors=True)
