"""End-to-end tests of the command line: run_pipeline.py started as a real subprocess.

Bad input (one ``error:`` line, exit code 2, no traceback), the files ``run``
writes, ``subscribe`` against a live run and ``export`` -> ``run`` with the ONNX
file. Shutdown by signal and by SIGKILL is in test_cli_shutdown.py. Every run
publishes on its own free loopback port so tests never collide with each other
or with a pipeline on the default port 5556.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import torch

from pipeline.client import Subscriber
from pipeline.schema import SCHEMA_FILE
from pipeline.shm import SHM_DIR
from pipeline.sources.synthetic import SyntheticScene

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "run_pipeline.py"
PIPELINE_TIMEOUT_S = 120            # one run of the pipeline, model loading included
STARTED = re.compile(r"started stage (\S+) pid (\d+)")
RUN_INFO = re.compile(r"run folder (\S+), shared memory prefix (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def cli_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = PIPELINE_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the command line to its end; stdout and stderr as text, ``.pid`` its process id."""
    with subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=REPO, env=cli_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{' '.join(args)}: still running after {timeout} s:\n{err}")
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    result.pid = proc.pid
    return result


def segments_of_pid(pid: int) -> list[str]:
    """Shared-memory segments of runs supervised by process ``pid`` (names carry its pid)."""
    return sorted(p.name for p in SHM_DIR.glob(f"streamdet-{pid}-*"))


class CliProcess:
    """A run_pipeline.py process left running; stderr and stdout are read line by line on threads."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=REPO, env=cli_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)   # a Ctrl-C at pytest does not reach it
        self.err_lines: list[str] = []
        self.out_lines: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stderr, self.err_lines), (self.proc.stdout, self.out_lines))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, pattern: re.Pattern, timeout: float = PIPELINE_TIMEOUT_S) -> re.Match:
        """The first stderr line matching ``pattern``; fails on timeout or if the process ended."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.err_lines:
                    match = pattern.search(line)
                    if match:
                        return match
                if self.proc.poll() is not None and not self._readers[0].is_alive():
                    pytest.fail(f"exit code {self.proc.returncode} before {pattern.pattern!r}:\n"
                                f"{self.stderr}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no {pattern.pattern!r} after {timeout} s:\n{self.stderr}")
                self._changed.wait(0.2)

    def stage_pids(self) -> dict[str, int]:
        return {m[1]: int(m[2]) for line in list(self.err_lines) for m in [STARTED.search(line)] if m}

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.err_lines)

    def kill(self) -> None:
        """Test clean-up: SIGKILL the command and whatever stage it started that is still there."""
        for pid in [self.proc.pid, *self.stage_pids().values()]:
            try:
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait(10)


@pytest.fixture
def cli_processes():
    """Start CliProcess objects through this; any still running at the end is killed."""
    started: list[CliProcess] = []

    def start(*args: str) -> CliProcess:
        started.append(CliProcess(*args))
        return started[-1]

    yield start
    for cli in started:
        if cli.proc.poll() is None:
            cli.kill()


# -- bad input: exit code 2, one "error:" line, no traceback --------------------------------------
def _bad_yaml_key(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "bad_key.yaml"
    path.write_text("engine: {threds: 1}\n")
    return ["run", "--config", str(path)], [str(path), "engine.threds"]


def _bad_yaml_type(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "bad_type.yaml"
    path.write_text("source: {width: wide}\n")
    return ["run", "--config", str(path)], [str(path), "source.width", "int"]


def _closed_rtsp(tmp: Path) -> tuple[list[str], list[str]]:
    url = f"rtsp://127.0.0.1:{free_port()}/x"      # nothing listens: the port was just freed
    return ["run", "--source", url], [url]


def _two_streams_of_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for value in range(5):
        writer.write(np.full((48, 64, 3), value * 40, np.uint8))
    writer.release()
    return ["run", "--source", str(path), "--streams", "2"], ["source.streams", str(path)]


def _random_bytes_weights(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "x.pt"
    path.write_bytes(os.urandom(4096))
    return ["run", "--weights", str(path)], [str(path)]


def _centernet_weights_for_yolo(tmp: Path) -> tuple[list[str], list[str]]:
    from engines.nets.centernet import CenterNetNet
    from engines.nets.weights_file import save_weights
    torch.manual_seed(0)
    path = save_weights(tmp / "centernet.pt", "centernet", "tiny", ["a", "b", "c"],
                        CenterNetNet(3, "tiny").state_dict())
    return ["run", "--model", "yolo", "--weights", str(path)], [str(path), "centernet", "yolo"]


def _readable_secret_key(tmp: Path) -> tuple[list[str], list[str]]:
    from pipeline.security import write_keys
    write_keys(tmp / "keys")
    (tmp / "keys" / "server.key_secret").chmod(0o644)
    return ["run", "--curve", str(tmp / "keys")], ["server.key_secret", "chmod 600"]


def _endpoint_in_use(tmp: Path) -> tuple[list[str], list[str]]:
    return ["run", "--publish", "tcp://127.0.0.1:{busy}"], ["127.0.0.1:{busy}"]


# (id, builder(tmp_path) -> (args, substrings the error line must hold), starts the pipeline)
BAD_INPUT = [
    ("missing video file", lambda tmp: (["run", "--source", str(tmp / "nope.mp4")], ["nope.mp4"]), False),
    ("unknown config key", _bad_yaml_key, False),
    ("wrong type in config", _bad_yaml_type, False),
    ("publish beyond loopback",
     lambda tmp: (["run", "--publish", "tcp://0.0.0.0:5999"], ["0.0.0.0:5999"]), False),
    ("curve key directory missing",
     lambda tmp: (["run", "--curve", str(tmp / "nokeys")], ["nokeys", "not found"]), False),
    ("curve secret key readable by others", _readable_secret_key, False),
    ("webcam that does not exist", lambda tmp: (["run", "--source", "7"], ["webcam 7"]), True),
    ("unreachable rtsp url", _closed_rtsp, True),
    ("two streams of a video file", _two_streams_of_a_file, True),
    ("weights file that does not exist",
     lambda tmp: (["run", "--weights", str(tmp / "none.pt")], ["none.pt"]), True),
    ("weights file of random bytes", _random_bytes_weights, True),
    ("centernet weights for yolo", _centernet_weights_for_yolo, True),
    ("tensorrt not installed", lambda tmp: (["run", "--engine", "tensorrt"], ["TensorRT"]), True),
    ("publish endpoint in use", _endpoint_in_use, True),
    ("zero threads", lambda tmp: (["run", "--threads", "0"], ["engine.threads", "positive integer or 'auto'"]), False),
    ("negative threads", lambda tmp: (["run", "--threads=-2"], ["engine.threads", "-2"]), False),
    ("zero parallel", lambda tmp: (["run", "--parallel", "0"], ["engine.parallel", "positive integer or 'auto'"]),
     False),
]


def _case(name, build, starts):
    marks = [pytest.mark.slow] if starts else []
    return pytest.param(build, starts, id=name, marks=marks)


@pytest.mark.parametrize("build, starts", [_case(*c) for c in BAD_INPUT])
def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path, build, starts):
    args, expected = build(tmp_path)
    with socket.socket() as busy:      # a port someone else listens on, for the "in use" case
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = [a.format(busy=port) for a in args]
        expected = [e.format(busy=port) for e in expected]
        if "--publish" not in args:
            args += ["--publish", free_endpoint()]
        started = time.monotonic()
        result = run_cli("--log-level", "WARNING", *args, "--no-status", "--max-frames", "5", timeout=90)
        elapsed = time.monotonic() - started
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert all(text in errors[0] for text in expected), (expected, errors[0])
    short = errors[0].replace(str(tmp_path), "<tmp>")
    assert len(short) <= 300, f"{len(short)} characters: one readable line, not a dump: {short}"
    if not starts:
        assert lines == errors and elapsed < 10, (elapsed, result.stderr)   # fails before any stage starts
    else:
        assert elapsed < 30, f"took {elapsed:.1f} s to report {errors[0]}"
    assert result.stdout == ""
    assert segments_of_pid(result.pid) == []     # shared memory of a failed run is removed too


# -- what a run writes ------------------------------------------------------------------------
@pytest.mark.slow
def test_run_writes_ground_truth_jsonl_and_video(tmp_path):
    gt, det, video = tmp_path / "gt.json", tmp_path / "det.jsonl", tmp_path / "out.avi"
    result = run_cli("run", "--max-frames", "20", "--policy", "wait", "--no-status", "--publish", free_endpoint(),
                     "--save-ground-truth", str(gt), "--jsonl", str(det), "--save-video", str(video))
    assert result.returncode == 0, result.stderr
    assert "did not stop in time" not in result.stderr, result.stderr    # a normal end needs no SIGKILL
    coco = json.loads(gt.read_text())
    assert sorted(image["frame_id"] for image in coco["images"]) == list(range(20))
    assert all((im["width"], im["height"]) == (640, 480) for im in coco["images"])
    names = {c["id"]: c["name"] for c in coco["categories"]}
    messages = [json.loads(line) for line in det.read_text().splitlines()]
    assert sorted(m["frame_id"] for m in messages) == list(range(20))
    published = [(d["class_id"], d["label"]) for m in messages for d in m["detections"]]
    assert published and all(names.get(cid) == label for cid, label in published)
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.shape)
    capture.release()
    assert frames == [(480, 640, 3)] * 20


# -- subscribe against a live run -------------------------------------------------------------
@pytest.mark.slow
def test_subscribe_prints_schema_valid_json_lines(cli_processes):
    endpoint = free_endpoint()
    run = cli_processes("run", "--max-frames", "200", "--realtime", "--fps", "30", "--no-status",
                        "--publish", endpoint)
    sub = cli_processes("subscribe", "--count", "3", "--endpoint", endpoint, "--timeout", "90")
    assert sub.wait(PIPELINE_TIMEOUT_S) == 0, sub.stderr
    schema = json.loads(SCHEMA_FILE.read_text())
    assert len(sub.out_lines) == 3, sub.out_lines
    messages = [json.loads(line) for line in sub.out_lines]
    for message in messages:
        jsonschema.validate(message, schema)
        assert message["stream"] == "cam0" and message["model"] == "yolo"
    ids = [m["frame_id"] for m in messages]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert run.proc.poll() is None, "the run should still be going (200 frames at 30 fps)"
    run.proc.send_signal(signal.SIGINT)
    assert run.wait(30) in (0, 130), run.stderr


# -- export, then run the exported file -------------------------------------------------------
@pytest.mark.slow
def test_exported_onnx_runs_as_weights(tmp_path):
    onnx_path = tmp_path / "yolo.onnx"
    exported = run_cli("export", "--model", "yolo", "--out", str(onnx_path))
    assert exported.returncode == 0, exported.stderr
    assert onnx_path.is_file() and str(onnx_path) in exported.stdout
    endpoint, det = free_endpoint(), tmp_path / "det.jsonl"
    with Subscriber(endpoint, timeout_s=3) as sub:
        result = run_cli("run", "--weights", str(onnx_path), "--max-frames", "10", "--policy", "wait", "--no-status",
                         "--publish", endpoint, "--jsonl", str(det))
        published = list(sub)      # the SUB socket kept what arrived while the run went on
    assert result.returncode == 0, result.stderr
    assert sorted(m["frame_id"] for m in published) == list(range(10))
    labels = {d["label"] for m in published for d in m["detections"]}
    assert labels and labels <= set(SyntheticScene(seed=0).class_names), labels
    assert all("yolo" in m["model"] for m in published)
    assert len(det.read_text().splitlines()) == 10
