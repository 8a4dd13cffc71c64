"""A pipeline split over two supervisors ("hosts") talking tcp://, arrays inline (no shared memory)."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import config
from pipeline.client import Subscriber
from pipeline.supervisor import Supervisor
from tests.pipeline.test_end_to_end import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_two_hosts_over_tcp_without_shared_memory(tmp_path):
    ports = {stage: free_port() for stage in ("preprocess", "inference", "postprocess", "sink")}
    publish = f"tcp://127.0.0.1:{free_port()}"
    endpoints = "".join(f"    {s}: tcp://127.0.0.1:{p}\n" for s, p in ports.items())
    common = (f"source: {{max_frames: 30}}\npublish: {{endpoint: '{publish}'}}\nsinks: {{status: false}}\n"
              f"transport:\n  shared_memory: never\n  policy: wait\n  endpoints:\n{endpoints}")
    upstream = tmp_path / "host_a.yaml"
    upstream.write_text(common + "supervisor: {stages: [capture, preprocess]}\n")
    downstream_cfg = config.validate(__import__("yaml").safe_load(
        common + "supervisor: {stages: [inference, postprocess, sink]}\n"), "host_b")
    got = []
    with Subscriber(publish, timeout_s=0.3) as sub:
        host_b = Supervisor(downstream_cfg, log_level="WARNING")
        host_a = subprocess.Popen([sys.executable, "run_pipeline.py", "run", "--config", str(upstream)],
                                  cwd=ROOT, stderr=subprocess.PIPE, text=True)
        try:
            summary = host_b.run(timeout_s=180)
        finally:
            host_a.terminate()
            host_a.wait(30)
        got = list(sub)
    assert summary["frames"] == 30 and summary["complete"]
    assert sorted(m["frame_id"] for m in got) == list(range(30))
    assert host_a.returncode == 0
