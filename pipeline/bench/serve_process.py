"""Start and stop ``run_pipeline.py serve`` as a child process group (benchmarks and tests).

The group holds serve, the Triton server and its backend stubs, so ``kill``
(SIGKILL to the group) is a real crash of the whole server and ``stop``
(SIGTERM) a clean shutdown; the killed backend's /dev/shm segments are removed.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class ServeProcess:
    """``run_pipeline.py serve`` in its own process group, so a kill takes the server with it."""

    def __init__(self, *extra: str, ports: list[int] | None = None, log: Path) -> None:
        self.http, self.grpc, self.metrics = ports or free_ports(3)
        self.extra, self.log = extra, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def start(self, wait_s: float = 240) -> "ServeProcess":
        argv = [sys.executable, str(REPO / "run_pipeline.py"), "serve", "--http-port", str(self.http),
                "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics), *self.extra]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True)
        self.wait_ready(wait_s)
        return self

    def wait_ready(self, wait_s: float) -> None:
        import tritonclient.grpc as grpcclient
        client = grpcclient.InferenceServerClient(self.url)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if client.is_server_ready():
                    return
            except Exception:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"serve not ready after {wait_s} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (serve, tritonserver, backend stubs): a crash, not a stop."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
            for segment in Path("/dev/shm").glob(f"pytrtion{self.proc.pid}-*"):   # the killed backend's
                segment.unlink(missing_ok=True)
        self._wait_port_free()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self._wait_port_free()

    def _wait_port_free(self, wait_s: float = 30) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.grpc)) != 0:
                    return
            time.sleep(0.2)

    def metric(self, name: str, model: str = "yolo") -> float:
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(f'{name}{{model="{model}"'):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(f"{name} for {model} not in Triton's metrics")
