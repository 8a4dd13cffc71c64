"""A real Prometheus server (Debian package ``prometheus``) for tests: loopback only, temp storage.

    with PrometheusServer(["127.0.0.1:8780"], tmp_path) as prom:
        prom.wait_until(lambda: prom.value('streamdet_frames_published_total{stream="cam0"}') > 10)

It scrapes the given targets' /metrics every ``scrape_interval`` and answers PromQL through
its own HTTP API (/api/v1/query), exactly what an operator's Prometheus does.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.helpers.rtsp import free_port

BINARY = "prometheus"


def unavailable_reason() -> str | None:
    if shutil.which(BINARY) is None:
        return "prometheus not installed (Debian package prometheus, see .ci/apt-packages.txt)"
    return None


class PrometheusServer:
    def __init__(self, targets: list[str], workdir: Path, scrape_interval: str = "1s",
                 metrics_path: str = "/metrics") -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {"global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval},
                       "scrape_configs": [{"job_name": "streamdet", "metrics_path": metrics_path,
                                           "static_configs": [{"targets": targets}]}]}
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "PrometheusServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "prometheus.yml"     # JSON is valid YAML
        config_path.write_text(json.dumps(self.config))
        self.log_path = self.workdir / "prometheus.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [BINARY, f"--config.file={config_path}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        self.wait_until(self._ready, timeout_s, "prometheus did not become ready")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        """Instant PromQL query: the ``result`` list of /api/v1/query (vector entries)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` right now, or None while it has no sample."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def targets_up(self) -> bool:
        return self.value("min(up)") == 1.0

    @staticmethod
    def wait_until(predicate, timeout_s: float = 30.0, message: str = "condition not met") -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(message)
            time.sleep(0.25)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
