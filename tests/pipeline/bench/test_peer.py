"""bench --peer: interpreter checks (one line, exit 2), skipped without one, the video both sides read."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from pipeline.bench import peer
from pipeline.bench.default_run import latency_report, worst_messages

ROOT = Path(__file__).resolve().parents[3]


def test_no_peer_python_is_skipped():
    assert peer.check_peer_python(None) is None


def test_missing_interpreter(tmp_path):
    with pytest.raises(peer.PeerError, match="no such interpreter"):
        peer.check_peer_python(str(tmp_path / "python"))


def test_interpreter_without_ultralytics():
    # our own interpreter: Ultralytics is never a dependency of streamdet
    with pytest.raises(peer.PeerError, match="cannot import ultralytics"):
        peer.check_peer_python(sys.executable)


def test_a_peer_interpreter_reports_its_version(tmp_path):
    fake = tmp_path / "site" / "ultralytics"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '0.0-test'\n")
    python = tmp_path / "peer-python"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    assert peer.check_peer_python(str(python)) == "0.0-test"


def _bench(*args, tmp_path):
    return subprocess.run([sys.executable, "run_pipeline.py", "bench", "--out", str(tmp_path / "out"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_bad_peer_python_is_one_line_and_exit_2(tmp_path):
    done = _bench("--peer", "ultralytics", "--peer-python", str(tmp_path / "nope"), tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such interpreter" in done.stderr


def test_cli_peer_without_python_says_skipped(tmp_path):
    done = _bench("--peer", "ultralytics", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "peer: skipped" in done.stderr
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["peer"]["skipped"]


def test_video_is_640x480_with_the_frames_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path))
    path = peer.make_video(12)
    capture = cv2.VideoCapture(str(path))
    shapes = []
    while (frame := capture.read())[0]:
        shapes.append(frame[1].shape)
    capture.release()
    assert shapes == [(480, 640, 3)] * 12
    assert peer.make_video(12) == path          # cached


def test_latency_report_checks_the_targets():
    report = latency_report(totals=[12.0] * 98 + [30.0, 31.0], inference=[10.0] * 100, startup_s=2.5, frames=100)
    assert report["e2e_p50_ms"] == 12.0 and report["inference_p50_ms"] == 10.0
    assert report["meets"] == {"p50": True, "p99": False, "startup": True}   # p99 30.99 > 2.5 x 10
    slow = latency_report(totals=[16.0] * 100, inference=[10.0] * 100, startup_s=3.5, frames=100)
    assert slow["meets"] == {"p50": False, "p99": True, "startup": False}


def test_worst_messages_name_the_frames_that_make_the_tail():
    latencies = [(i, {"inference": 7.0, "total": 11.0 + (i == 1) * 50 + (i == 40) * 9}) for i in range(100)]
    worst = worst_messages(latencies, count=2)
    assert [(w["frame_id"], w["position"], w["latency_ms"]["total"]) for w in worst] == [(1, 1, 61.0), (40, 40, 20.0)]


@pytest.mark.parametrize("threads", ["0", "-3", "many"])
def test_cli_bench_bad_threads_is_one_line_and_exit_2(tmp_path, threads):
    done = _bench(f"--threads={threads}", "--frames", "5", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "engine.threads" in done.stderr
