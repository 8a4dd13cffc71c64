"""Warm standbys (``supervisor.standby: true``): a stage that dies is replaced in milliseconds.

For each preprocess, inference and postprocess stage the supervisor keeps one spare process
that has done its whole setup (model loaded, engine warmed up) but bound nothing. When the
stage dies, the spare gets SIGUSR1, binds its sockets and runs; a new spare is started behind
it. Without a ready spare a restart is a fresh process, as before. Capture and sink have none:
their setup opens the source or binds the PUB socket, which only one process can hold.
"""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from pipeline.worker import stage_main

log = logging.getLogger("streamdet.supervisor")
STANDBY_KINDS = ("preprocess", "inference", "postprocess")


class StandbyPool:
    def __init__(self, mp_ctx, specs: dict, run_dir: Path, log_level: str) -> None:
        self._mp, self.specs, self.run_dir, self.log_level = mp_ctx, specs, run_dir, log_level
        self.procs: dict = {}

    def eligible(self, name: str) -> bool:
        spec = self.specs[name]
        return spec.kind in STANDBY_KINDS and not spec.options.get("branch_endpoint")

    def fill(self) -> None:
        """Start a spare for every eligible stage that has none."""
        for name in self.specs:
            if self.eligible(name) and not (name in self.procs and self.procs[name].is_alive()):
                self._marker(name).unlink(missing_ok=True)
                proc = self._mp.Process(target=stage_main, name=f"{name} (standby)",
                                        args=(self.specs[name], str(self.run_dir), self.log_level, True))
                proc.start()
                self.procs[name] = proc
                log.info("standby for stage %s pid %d", name, proc.pid)

    def take(self, name: str):
        """The spare of ``name``, told to take over; None when none is ready yet."""
        proc = self.procs.get(name)
        if proc is None or not proc.is_alive() or not self._marker(name).exists():
            return None
        del self.procs[name]
        self._marker(name).unlink(missing_ok=True)
        os.kill(proc.pid, signal.SIGUSR1)
        return proc

    def stop(self) -> None:
        """Spares hold nothing (no socket, no ring): SIGKILL is a clean stop for them."""
        for proc in self.procs.values():
            if proc.is_alive():
                proc.kill()
        for proc in self.procs.values():
            proc.join(5)
        self.procs.clear()

    def _marker(self, name: str) -> Path:
        return self.run_dir / f"{name}.standby"
