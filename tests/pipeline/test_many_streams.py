"""Many streams in one pipeline: real RTSP cameras, a file and a synthetic camera, each on its own.

The supervisor runs on the test's main thread (it owns SIGINT/SIGTERM); a
scenario thread watches the published messages, kills and restarts RTSP
servers, calls the HTTP API, and stops the run. Rates are compared between
windows of the same run (relative, not absolute: the machine is shared).
"""
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from pipeline import config
from pipeline.client import Subscriber
from pipeline.shm import SHM_DIR
from pipeline.supervisor import Supervisor
from tests.helpers import rtsp
from tests.helpers.media import write_video

pytestmark = pytest.mark.slow


class Watcher:
    """Collects (arrival time, message) from the PUB socket on a thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint, self.got, self.stop = endpoint, [], threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        time.sleep(0.3)

    def _follow(self) -> None:
        with Subscriber(self.endpoint, timeout_s=0.2) as sub:
            while not self.stop.is_set():
                message = sub.recv()
                if message is not None:
                    self.got.append((time.time(), message))

    def count(self, stream: str, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for t, m in list(self.got) if m["stream"] == stream and since <= t < until)

    def first_after(self, stream: str, since: float) -> float | None:
        return next((t for t, m in list(self.got) if m["stream"] == stream and t >= since), None)

    def wait_for(self, predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)


def api_call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def run_with_scenario(cfg: dict, scenario, timeout_s: float = 400):
    """Run the supervisor here; ``scenario(sup, watcher, api_port)`` on a thread, then stop the run."""
    api_port = rtsp.free_port()
    cfg = config.override(cfg, {"api.port": api_port})
    watcher = Watcher(cfg["publish"]["endpoint"])
    sup = Supervisor(cfg, log_level="WARNING", api=True)
    errors = []

    def drive():
        try:
            scenario(sup, watcher, api_port)
        except BaseException as exc:           # reported on the main thread
            errors.append(exc)
        finally:
            sup.stop_reason = sup.stop_reason or "test done"

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        summary = sup.run(timeout_s=timeout_s)
    finally:
        watcher.stop.set()
        thread.join(30)
    if errors:
        raise errors[0]
    return sup, summary, watcher


def base_config(**overrides) -> dict:
    return config.override(config.load(None), {
        "publish.endpoint": f"tcp://127.0.0.1:{rtsp.free_port()}", "sinks.status": False,
        "engine.max_batch": 4, "supervisor.max_restarts": 20, **overrides}, "test")


@pytest.fixture(scope="module")
def server_ready():
    reason = rtsp.unavailable_reason()
    if reason:
        pytest.skip(reason)


def test_four_cameras_a_file_and_synthetic_each_on_its_own(server_ready, tmp_path):
    servers = [rtsp.RtspServer(rtsp.free_port(), tmp_path / f"rtsp{i}.log", size=(160, 120), fps=10)
               for i in range(4)]
    for server in servers[:3]:
        server.start()          # the fourth is unreachable at start: its stream must be offline, then join
    clip = write_video(tmp_path / "clip.avi", 40, size=(160, 120), fps=10)
    sources = [{"name": f"rtsp{i}", "uri": s.url, "stall_timeout_s": 2.0} for i, s in enumerate(servers)]
    sources += [{"name": "file", "uri": str(clip), "realtime": True, "fps": 10},
                {"name": "synth", "uri": "synthetic", "realtime": True, "fps": 10, "width": 160, "height": 120}]
    cfg = base_config(sources=sources)
    seen = {}

    def scenario(sup, w, port):
        cams = ["rtsp0", "rtsp1", "rtsp2", "synth"]
        w.wait_for(lambda: all(w.count(s) >= 5 for s in cams + ["file"]), 240, "every running stream")
        # captures report twice a second: give the table one report period past the published frames
        w.wait_for(lambda: {s["state"] for s in api_call(port, "GET", "/streams")[1]["streams"]
                            if s["name"] in cams} == {"live"}, 5, "live states reported")
        status, listing = api_call(port, "GET", "/streams")
        seen["states_at_start"] = {s["name"]: s["state"] for s in listing["streams"]}
        assert w.count("rtsp3") == 0
        servers[3].start()                                   # the offline camera comes up: its retry finds it
        w.wait_for(lambda: w.count("rtsp3") >= 5, 90, "the late camera's stream")
        w.wait_for(lambda: api_call(port, "GET", "/streams")[1]["streams"][4]["state"] == "ended", 60,
                   "the file's end")
        t0 = time.time()
        time.sleep(10)
        t1 = time.time()
        servers[1].kill()                                    # one camera dies
        time.sleep(10)
        t2 = time.time()
        seen["outage_window"] = {s: (w.count(s, t0, t1), w.count(s, t1, t2)) for s in cams}
        seen["down_during_outage"] = api_call(port, "GET", "/streams")[1]
        servers[1].start()                                   # same port: the stream must come back by itself
        w.wait_for(lambda: w.count("rtsp1", time.time() - 1.0) > 0, 90, "rtsp1 back after its restart")
        seen["back"] = time.time()
        w.wait_for(lambda: sup.snapshot()["streams"]["rtsp1"]["reconnects"] >= 1, 5, "the reconnect reported")
        seen["snapshot"] = sup.snapshot()

    try:
        sup, summary, w = run_with_scenario(cfg, scenario)
    finally:
        for server in servers:
            server.kill()
    assert seen["states_at_start"]["rtsp3"] == "offline"
    assert {seen["states_at_start"][s] for s in ("rtsp0", "rtsp1", "rtsp2", "synth")} == {"live"}
    for stream in ("rtsp0", "rtsp2", "synth"):              # the others keep their rate while rtsp1 is down
        before, during = seen["outage_window"][stream]
        assert during >= 0.5 * before > 0, (stream, seen["outage_window"])
    assert seen["outage_window"]["rtsp1"][1] < seen["outage_window"]["rtsp1"][0]
    down = {s["name"]: s for s in seen["down_during_outage"]["streams"]}
    assert down["rtsp1"]["state"] in ("reconnecting", "live")  # live only if it came back within the window
    snap = seen["snapshot"]["streams"]
    assert snap["rtsp1"]["reconnects"] >= 1 and snap["file"]["state"] == "ended"
    for stream in ("rtsp0", "rtsp1", "rtsp2", "rtsp3", "file", "synth"):
        ids = [m["frame_id"] for _, m in w.got if m["stream"] == stream]
        assert ids and ids == sorted(ids) and len(set(ids)) == len(ids), stream   # monotonic per stream
    file_ids = [m["frame_id"] for _, m in w.got if m["stream"] == "file"]
    assert file_ids == list(range(40))                       # a file keeps every frame (its own no-drop hop)
    assert summary["streams"]["synth"]["frames"] > 0 and summary["stop_reason"] == "test done"
    assert not list(SHM_DIR.glob(f"{sup.prefix}-*"))


def test_add_and_remove_streams_through_the_api_while_others_run(tmp_path):
    cfg = base_config(sources=[{"name": "steady", "uri": "synthetic", "realtime": True, "fps": 10,
                                "width": 320, "height": 240}])
    seen = {}

    def scenario(sup, w, port):
        w.wait_for(lambda: w.count("steady") >= 5, 240, "the first stream")
        assert api_call(port, "GET", "/ready")[0] == 200 and api_call(port, "GET", "/health")[0] == 200
        posted = time.time()
        status, body = api_call(port, "POST", "/streams", {"name": "extra", "uri": "synthetic",
                                                           "realtime": True, "fps": 10, "seed": 4})
        assert status == 201 and body["name"] == "extra"
        seen["duplicate"] = api_call(port, "POST", "/streams", {"name": "extra", "uri": "synthetic"})
        seen["missing_file"] = api_call(port, "POST", "/streams", {"name": "f", "uri": str(tmp_path / "no.mp4")})
        seen["bad_key"] = api_call(port, "POST", "/streams", {"name": "g", "uri": "synthetic", "fsp": 1})
        w.wait_for(lambda: w.count("extra") >= 10, 60, "the added stream")
        seen["first_extra_after_s"] = w.first_after("extra", posted) - posted
        ring = SHM_DIR / f"{sup.prefix}-capture.extra"
        seen["ring_while_running"] = ring.exists()
        status, _ = api_call(port, "DELETE", "/streams/extra")
        deleted = time.time()
        seen["delete_status"] = status
        seen["ring_after_delete"] = ring.exists()
        time.sleep(3)
        seen["steady_during"] = w.count("steady", posted, deleted)
        seen["steady_after"] = w.count("steady", deleted, time.time())
        seen["extra_after"] = [m for t, m in w.got if m["stream"] == "extra"
                               and m["capture_ts"] + m["latency_ms"]["total"] / 1e3 > deleted]
        seen["listing"] = [s["name"] for s in api_call(port, "GET", "/streams")[1]["streams"]]
        seen["unknown"] = api_call(port, "DELETE", "/streams/extra")[0]
        seen["procs"] = sorted(sup.procs)
        killed = time.time()
        os.kill(sup.procs["capture.steady"].pid, signal.SIGKILL)     # a crashed capture: restarted alone
        w.wait_for(lambda: w.count("steady", killed + 0.5) >= 5, 90, "steady after its capture restart")
        seen["capture_restarts"] = sup.restarts["capture.steady"]

    sup, summary, w = run_with_scenario(cfg, scenario)
    print(f"first message of the added stream {seen['first_extra_after_s']:.2f} s after POST")
    assert seen["duplicate"][0] == 409
    assert seen["missing_file"][0] == 400 and "no.mp4" in seen["missing_file"][1]["error"]
    assert seen["bad_key"][0] == 400 and "fsp: unknown key" in seen["bad_key"][1]["error"]
    assert seen["delete_status"] == 204 and seen["ring_while_running"] and not seen["ring_after_delete"]
    assert seen["extra_after"] == []                         # nothing of it published after DELETE returned
    assert seen["steady_during"] > 0 and seen["steady_after"] > 0
    assert seen["listing"] == ["steady"] and seen["unknown"] == 404
    assert "capture.extra" not in seen["procs"]
    assert seen["capture_restarts"] == 1
    ids = [m["frame_id"] for _, m in w.got if m["stream"] == "steady"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)      # frame ids go on across the restart
