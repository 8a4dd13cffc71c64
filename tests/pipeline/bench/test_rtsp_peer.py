"""bench --rtsp --peer: flags, the .streams file, the peer's per-stream counting, ratios, the skip line.

None of this needs Ultralytics: the peer script is loaded as a plain module (it
imports Ultralytics only in main()) and driven with a fake model.
"""
import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.bench import peer, rtsp_peer
from pipeline.bench.options import add_bench_options
from pipeline.bench.pipeline_bench import _base_config

ROOT = Path(__file__).resolve().parents[3]


def _peer_script():
    spec = importlib.util.spec_from_file_location("ultralytics_peer", peer.PEER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_bench_options(parser)
    return parser.parse_args(list(argv))


def test_flags_parse():
    args = _args("--rtsp", "--scaling", "--peer", "ultralytics", "--peer-python", "/p/python",
                 "--peer-model", "m.onnx", "--peer-streams", "4", "--camera-fps", "30")
    assert (args.rtsp, args.scaling, args.peer, args.peer_python) == (True, True, "ultralytics", "/p/python")
    assert args.peer_model == ["m.onnx"] and args.peer_streams == [4] and args.camera_fps == 30
    assert _args("--rtsp").peer_streams is None
    assert _args("--rtsp").cameras == "clip" and _args("--rtsp", "--cameras", "pattern").cameras == "pattern"


def test_streams_file_is_one_url_a_line(tmp_path):
    script = _peer_script()
    assert "ultralytics" not in sys.modules          # loading the script imports no Ultralytics
    urls = ["rtsp://127.0.0.1:8554/test", "rtsp://127.0.0.1:8555/test"]
    path = script.write_streams_file(urls, tmp_path / "cams.streams")
    assert path.read_text() == "rtsp://127.0.0.1:8554/test\nrtsp://127.0.0.1:8555/test\n"
    assert path.read_text().rsplit() == urls          # how LoadStreams reads it
    for bad in ([], ["rtsp://a b/test"], [""]):
        with pytest.raises(ValueError, match="without whitespace"):
            script.write_streams_file(bad, tmp_path / "bad.streams")


class FakeModel:
    """predict(stream=True) on a .streams file: K results per step, in the file's order."""

    def __init__(self, steps):
        self.steps, self.kwargs = steps, None

    def predict(self, source, **kwargs):
        self.kwargs, urls = kwargs, Path(source).read_text().split()
        for _ in range(self.steps):
            for _ in urls:
                yield SimpleNamespace(speed={"preprocess": 1.0, "inference": 5.0, "postprocess": 0.5},
                                      boxes=[0, 1])


def test_peer_counts_every_stream_after_the_warmup():
    script = _peer_script()
    model = FakeModel(steps=50)
    args = SimpleNamespace(streams=["rtsp://a/1", "rtsp://b/2", "rtsp://c/3"], warmup=5, seconds=0.0,
                           imgsz=320, conf=0.25, iou=0.45, rect=False)
    out = script.predict_streams(model, args)
    assert out["streams"] == 3 and out["batch"] == 3 and out["frames"] == 3   # one whole step after the warm-up
    assert len(out["fps_per_stream"]) == 3 and out["boxes_per_frame"] == 2.0
    assert out["speed_ms"] == {"preprocess": 1.0, "inference": 5.0, "postprocess": 0.5}
    assert model.kwargs["rect"] is False and model.kwargs["imgsz"] == 320 and model.kwargs["stream"] is True
    too_short = SimpleNamespace(**{**vars(args), "warmup": 60})
    assert "error" in script.predict_streams(FakeModel(steps=10), too_short)


ROWS = [{"streams": 1, "max_batch": 1, "fps_aggregate": 30.0},
        {"streams": 4, "max_batch": 1, "fps_aggregate": 60.0},
        {"streams": 4, "max_batch": 4, "fps_aggregate": 90.0}]


def test_comparison_takes_both_of_our_runs_at_that_k():
    row = rtsp_peer.compare(ROWS, {"streams": 4, "fps": 60.0, "fps_per_stream": [15.0] * 4})
    assert row == {"streams": 4, "peer_fps_aggregate": 60.0, "peer_fps_per_stream": [15.0] * 4,
                   "ours_fps_no_batching": 60.0, "ours_fps_batched": 90.0,
                   "ours_over_peer_no_batching": 1.0, "ours_over_peer_batched": 1.5}
    one = rtsp_peer.compare(ROWS, {"streams": 1, "fps": 25.0, "fps_per_stream": [25.0]})
    assert one["ours_fps_no_batching"] == one["ours_fps_batched"] == 30.0 and one["ours_over_peer_batched"] == 1.2


def test_measure_runs_the_peer_on_the_urls_and_records_it(monkeypatch):
    calls = []

    def fake_script(python, argv, timeout):
        calls.append((python, argv))
        return {"streams": 4, "fps": 45.0, "fps_per_stream": [11.25] * 4}
    monkeypatch.setattr(peer, "run_peer_script", fake_script)
    plan = rtsp_peer.PeerPlan("/p/python", Path("/m.onnx"), 320, "8.4.190", (4,))
    entry = {"name": "ultralytics", "runs": [], "comparison": []}
    urls = [f"rtsp://127.0.0.1:{9000 + i}/test" for i in range(4)]
    rtsp_peer.measure(plan, entry, ROWS, urls, seconds=5, warmup=10)
    python, argv = calls[0]
    assert python == "/p/python" and argv[argv.index("--streams") + 1:] == urls
    assert argv[argv.index("--seconds") + 1] == "5" and argv[argv.index("--imgsz") + 1] == "320"
    assert entry["comparison"][0]["ours_over_peer_batched"] == 2.0 and entry["runs"][0]["fps"] == 45.0


def test_without_peer_nothing_changes():
    args = _args("--rtsp")
    base = _base_config(args)
    assert rtsp_peer.prepare(args, base, (1,)) == (base, None, None)


def test_peer_without_python_is_skipped_with_one_line_and_ours_uses_the_model(tmp_path, capsys):
    model = tmp_path / "yolov8n-320-dynamic.onnx"
    model.write_bytes(b"")
    args = _args("--rtsp", "--peer", "ultralytics", "--peer-model", str(model))
    ours, plan, entry = rtsp_peer.prepare(args, _base_config(args), (2,))
    assert plan is None and entry == {"model": str(model.resolve()), "skipped": "no --peer-python given"}
    assert capsys.readouterr().err == "peer: skipped (no --peer-python given)\n"
    assert ours["model"]["weights"] == str(model.resolve()) and ours["engine"]["name"] == "onnxruntime"


def test_bad_peer_settings_are_one_line_errors(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b""), b.write_bytes(b"")
    two = _args("--rtsp", "--peer", "ultralytics", "--peer-model", str(a), "--peer-model", str(b))
    with pytest.raises(peer.PeerError, match="give one --peer-model"):
        rtsp_peer.prepare(two, _base_config(two), (2,))
    odd = _args("--rtsp", "--peer", "ultralytics", "--peer-model", str(a), "--peer-streams", "3")
    with pytest.raises(peer.PeerError, match="--peer-streams 3: not among"):
        rtsp_peer.prepare(odd, _base_config(odd), (1, 2, 4, 8))
    missing = _args("--rtsp", "--peer", "ultralytics", "--peer-model", str(tmp_path / "nope.onnx"))
    with pytest.raises(peer.PeerError, match="no such file"):
        rtsp_peer.prepare(missing, _base_config(missing), (2,))


def test_cli_rtsp_bad_peer_python_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "run_pipeline.py", "bench", "--rtsp", "--streams", "2", "--peer",
                           "ultralytics", "--peer-python", str(tmp_path / "nope"), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such interpreter" in done.stderr
    assert not (tmp_path / "out" / "bench.json").exists()


def test_a_failing_peer_run_is_recorded_and_ours_are_kept(monkeypatch, capsys):
    def failing(python, argv, timeout):
        raise RuntimeError("peer failed (exit 1): ConnectionError: 1/4: Failed to open rtsp://...\nmore")
    monkeypatch.setattr(peer, "run_peer_script", failing)
    plan = rtsp_peer.PeerPlan("/p/python", Path("/m.onnx"), 320, "8.4.190", (4,))
    entry = {"name": "ultralytics", "runs": [], "comparison": []}
    rtsp_peer.measure(plan, entry, ROWS, ["rtsp://a/1"] * 4, seconds=5, warmup=10)
    assert entry["runs"][0]["streams"] == 4 and "Failed to open" in entry["runs"][0]["error"]
    assert entry["comparison"] == []
    assert capsys.readouterr().err.splitlines()[-1].startswith("K=4: peer failed: peer failed (exit 1)")
