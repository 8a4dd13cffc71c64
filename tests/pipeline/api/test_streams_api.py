"""The HTTP API over a fake controller: routes, status codes, one-line reasons, bearer token."""
import json
import socket
import urllib.error
import urllib.request

import pytest

from pipeline.api.server import ApiServer
from pipeline.api.streams import StreamRequestError, stream_routes


class FakeControl:
    def __init__(self):
        self.streams = {"cam0": {"uri": "synthetic", "state": "live", "fps": 25.0, "frames": 10, "dropped": 1,
                                 "dropped_by_stage": {"capture": 1}, "reconnects": 0, "last_frame_ts": 1.5,
                                 "up": True}}
        self.ready = False

    def snapshot(self):
        return {"streams": dict(self.streams), "stages": {}, "histograms": {}, "info": {}}

    def is_ready(self):
        return self.ready

    def add_stream(self, body):
        if body.get("name") in self.streams:
            raise StreamRequestError(409, f"stream {body['name']!r} exists")
        self.streams[body["name"]] = dict(self.streams["cam0"], uri=body["uri"], state="starting")
        return {"name": body["name"], **self.streams[body["name"]]}

    def remove_stream(self, name):
        if self.streams.pop(name, None) is None:
            raise StreamRequestError(404, f"no stream {name!r}")


@pytest.fixture
def api():
    control = FakeControl()
    server = ApiServer("127.0.0.1", 0, stream_routes(control)).start()
    yield control, f"http://127.0.0.1:{server.port}"
    server.stop()


def call(url, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return r.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_list_health_and_ready(api):
    control, base = api
    status, body = call(f"{base}/streams")
    assert status == 200 and body == {"streams": [{"name": "cam0", "uri": "synthetic", "state": "live", "fps": 25.0,
                                                   "frames": 10, "dropped": 1, "reconnects": 0,
                                                   "last_frame_ts": 1.5}]}
    assert call(f"{base}/health") == (200, {"status": "ok"})
    assert call(f"{base}/ready")[0] == 503
    control.ready = True
    assert call(f"{base}/ready")[0] == 200


def test_add_and_remove(api):
    control, base = api
    status, body = call(f"{base}/streams", "POST", json.dumps({"name": "door", "uri": "x.mp4"}).encode())
    assert status == 201 and body["name"] == "door" and body["state"] == "starting"
    assert call(f"{base}/streams", "POST", json.dumps({"name": "door", "uri": "y"}).encode())[0] == 409
    assert call(f"{base}/streams/door", "DELETE") == (204, None)
    status, body = call(f"{base}/streams/door", "DELETE")
    assert status == 404 and body == {"error": "no stream 'door'"}


@pytest.mark.parametrize("data, expected", [
    (b"{bad json", "body is not valid JSON"),
    (b"[1, 2]", "body must be a JSON object"),
    (b"\xff\xfe", "body is not valid JSON"),
])
def test_bad_bodies_are_400_with_one_line(api, data, expected):
    _, base = api
    status, body = call(f"{base}/streams", "POST", data)
    assert status == 400 and body["error"].startswith(expected) and "\n" not in body["error"]


def test_bearer_token_is_checked_on_every_route():
    server = ApiServer("127.0.0.1", 0, stream_routes(FakeControl()), token="s3cret").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path in ("/streams", "/health", "/ready"):
            assert call(f"{base}{path}")[0] == 401
            assert call(f"{base}{path}", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert call(f"{base}/health", headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert call(f"{base}/streams/cam0", "DELETE", headers={"Authorization": "Bearer s3cret"})[0] == 204
    finally:
        server.stop()


def test_extra_route_lists_join_the_same_app():
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    extra = [Route("/metrics", lambda request: PlainTextResponse("up 1\n"))]
    server = ApiServer("127.0.0.1", 0, stream_routes(FakeControl()) + extra).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
            assert r.read() == b"up 1\n"
    finally:
        server.stop()


def test_a_port_in_use_is_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot serve the HTTP API on 127.0.0.1:{port}"):
            ApiServer("127.0.0.1", port, []).start()
