"""supervisor.standby: a SIGKILLed model stage is replaced by its warm spare, and a new spare follows."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pipeline import config
from pipeline.client import Subscriber
from pipeline.supervisor import Supervisor
from tests.pipeline.test_end_to_end import free_port

pytestmark = pytest.mark.slow


def test_a_killed_inference_stage_is_taken_over_by_its_standby():
    publish = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.validate({"source": {"max_frames": 400, "realtime": True, "fps": 10, "live": True},
                           "publish": {"endpoint": publish}, "sinks": {"status": False},
                           "supervisor": {"standby": True}}, "standby test")
    supervisor = Supervisor(cfg, log_level="WARNING")
    seen: dict = {}

    def kill_when_spare_is_ready() -> None:
        marker = supervisor.run_dir / "inference.standby"
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        seen["spare"] = supervisor.standby.procs["inference"].pid
        seen["killed"] = supervisor.procs["inference"].pid
        seen["t_kill"] = time.time()
        os.kill(seen["killed"], signal.SIGKILL)
        while supervisor.standby.procs.get("inference") is None or \
                supervisor.standby.procs["inference"].pid == seen["spare"]:
            time.sleep(0.05)
        seen["next_spare"] = supervisor.standby.procs["inference"].pid

    killer = threading.Thread(target=kill_when_spare_is_ready, daemon=True)
    with Subscriber(publish, timeout_s=0.3) as sub:
        killer.start()
        summary = supervisor.run(timeout_s=600)
        captured = [m["capture_ts"] for m in sub]
    killer.join(5)
    assert summary["restarts"] == 1 and summary["complete"]
    assert supervisor.procs["inference"].pid == seen["spare"] != seen["killed"]
    assert seen["next_spare"] not in (seen["spare"], seen["killed"])
    assert any(t > seen["t_kill"] for t in captured), "nothing published after the kill"
    assert not supervisor.standby.procs        # spares are stopped with the run
