"""CPU ms per frame of each process of a run (pipeline/bench/cpu_usage.py)."""
from __future__ import annotations

import multiprocessing
import os
import sys
import time

import pytest

from pipeline.bench.cpu_usage import CpuWindow, cpu_per_frame, run_cpu_s

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def burn(seconds: float, done) -> None:
    from pipeline.worker import name_process
    name_process("burner")
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass
    done.set()
    time.sleep(30)          # stays alive (and counted) until the test ends it


@pytest.fixture
def burner():
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Event()
    child = ctx.Process(target=burn, args=(0.3, done), daemon=True)
    child.start()
    assert done.wait(30)
    yield child
    child.kill()
    child.join()


def test_a_stage_process_is_named_by_its_stage_and_its_cpu_time_is_counted(burner):
    seconds = run_cpu_s(os.getpid())
    assert seconds["burner"] >= 0.28           # it spent 0.3 s of CPU; /proc counts in 10 ms ticks
    assert "supervisor" in seconds             # this process


def test_cpu_per_frame_divides_what_each_process_used_between_two_readings():
    first = (100, {"inference": 1.0, "sink": 0.2, "gone": 0.1})
    last = (300, {"inference": 3.6, "sink": 0.3})
    result = cpu_per_frame(first, last)
    assert result == {"frames": 200, "ms_per_frame": {"inference": 13.0, "sink": 0.5},
                      "total_ms_per_frame": 13.5}


def test_the_window_opens_after_the_warmup_and_closes_while_every_process_still_runs(burner):
    frames = [0]
    window = CpuWindow(lambda: frames[0], start_after=10, period_s=0.02).start()
    time.sleep(0.1)
    assert window._first is None               # still warming up
    frames[0] = 10
    time.sleep(0.1)
    frames[0] = 50
    time.sleep(0.1)
    burner.kill()
    burner.join()
    frames[0] = 60                             # a reading without the burner is not the last one
    time.sleep(0.1)
    result = window.stop()
    assert result["frames"] == 40 and "burner" in result["ms_per_frame"]
