"""Command line: many --source values (bad ones: one line, exit 2) and the ``streams`` API client."""
import socket

import pytest

import run_pipeline
from pipeline.api.server import ApiServer
from pipeline.api.streams import stream_routes
from tests.pipeline.api.test_streams_api import FakeControl


def run_main(capsys, argv):
    code = run_pipeline.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, expected", [
    (["--source", "a=synthetic", "--source", "a=synthetic"], "duplicate stream name 'a'"),
    (["--source", "synthetic", "--source", "cam0=synthetic"], "duplicate stream name 'cam0'"),
    (["--source", "cam/1=synthetic"], "name 'cam/1' is not valid"),
    (["--source", "cam1="], "nothing after '='"),
    (["--source", "a=synthetic", "--source", "b=/no/such/clip.mp4"], "/no/such/clip.mp4"),
    (["--api", "localhost"], "expected HOST:PORT"),
    (["--api", "0.0.0.0:8780"], "needs transport.allow_remote: true and an api.token"),
])
def test_bad_sources_and_api_addresses_are_one_line_and_exit_2(capsys, args, expected):
    code, _, err = run_main(capsys, ["run", "--no-status", *args])
    assert code == 2 and expected in err and err.count("\n") == 1


def test_unknown_per_source_key_in_yaml_names_source_and_key(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  - {name: door, uri: synthetic}\n  - {name: yard, uri: synthetic, fsp: 5}\n")
    code, _, err = run_main(capsys, ["run", "--config", str(path)])
    assert code == 2 and f"{path}: sources[1] (yard): fsp: unknown key" in err and err.count("\n") == 1


@pytest.fixture
def api():
    control = FakeControl()
    server = ApiServer("127.0.0.1", 0, stream_routes(control)).start()
    yield control, f"127.0.0.1:{server.port}"
    server.stop()


def test_streams_list_add_remove(capsys, api):
    control, address = api
    code, out, _ = run_main(capsys, ["streams", "list", "--api", address])
    assert code == 0 and "cam0" in out and "live" in out
    code, out, _ = run_main(capsys, ["streams", "add", "door", "rtsp://u:p@h/x", "--set", "fps=5",
                                     "--api", address])
    assert code == 0 and '"name": "door"' in out and "door" in control.streams
    code, out, _ = run_main(capsys, ["streams", "remove", "door", "--api", address])
    assert code == 0 and "door" not in control.streams
    code, _, err = run_main(capsys, ["streams", "remove", "door", "--api", address])
    assert code == 2 and "404 no stream 'door'" in err and err.count("\n") == 1


def test_streams_without_a_running_api_is_one_line(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_main(capsys, ["streams", "list", "--api", f"127.0.0.1:{port}"])
    assert code == 2 and f"no streamdet API at 127.0.0.1:{port}" in err and err.count("\n") == 1
