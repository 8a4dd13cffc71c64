"""The tracker config section, when a run tracks, and bad input: one line naming the key, exit 2."""
import pytest

from pipeline import config
from pipeline.bench.pipeline_bench import bench_config
from pipeline.tracking.bank import NoTracking, TrackingBank
from pipeline.tracking.factory import make_tracking
from pipeline.tracking.settings import tracker_wanted
from tests.test_cli import free_endpoint, run_cli


@pytest.mark.parametrize("section, key", [
    ({"name": "sort"}, "tracker.name"), ({"gamma": 1}, "tracker.gamma"),
    ({"high_threshold": 1.5}, "tracker.high_threshold"), ({"max_lost_frames": -1}, "tracker.max_lost_frames"),
    ({"low_threshold": 0.6, "high_threshold": 0.5}, "tracker.low_threshold"), ({"min_hits": 0}, "tracker.min_hits"),
    ({"max_lost_frames": 2.5}, "tracker.max_lost_frames"), ({"lost_buffer": -0.1}, "tracker.lost_buffer"),
    ({"lost_buffer": 1.5}, "tracker.lost_buffer"), ({"lost_buffer": "wide"}, "tracker.lost_buffer"),
    ({"class_memory": 1.5}, "tracker.class_memory"), ({"class_memory": -0.5}, "tracker.class_memory"),
    ({"occlusion_iou": 1.5}, "tracker.occlusion_iou")])
def test_bad_tracker_section_names_the_key(section, key):
    with pytest.raises(config.ConfigError) as err:
        config.validate({"tracker": section})
    assert key in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("source, name, wanted", [
    ({}, "auto", True), ({"realtime": False}, "auto", False),   # the paced synthetic default is live
    ({"uri": "rtsp://127.0.0.1:8554/cam"}, "auto", True), ({"uri": 0}, "auto", True),
    ({"live": True}, "auto", True), ({}, "bytetrack", True), ({"uri": "rtsp://127.0.0.1:8554/cam"}, "none", False)])
def test_auto_tracks_live_sources_only(source, name, wanted):
    cfg = config.validate({"source": source, "tracker": {"name": name}})
    assert tracker_wanted(cfg) is wanted
    assert isinstance(make_tracking(cfg), TrackingBank if wanted else NoTracking)


def test_tracker_params_reach_the_tracker():
    bank = make_tracking(config.validate({"tracker": {"name": "bytetrack", "max_lost_frames": 7}}))
    assert bank.make_tracker().max_lost_frames == 7


@pytest.mark.parametrize("name, expected", [("auto", "none"), ("bytetrack", "bytetrack")])
def test_benchmarks_track_only_when_asked(name, expected):
    base = config.validate({"tracker": {"name": name}})
    assert bench_config(base, frames=10, warmup=0, live_rate=100.0)["tracker"]["name"] == expected


def _yaml(tmp_path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


BAD = [
    ("unknown tracker name", lambda tmp: ["--tracker", "sort"], "tracker.name"),
    ("unknown tracker parameter", lambda tmp: ["--config", _yaml(tmp, "tracker: {gamma: 1}\n")], "tracker.gamma"),
    ("zero-length line", lambda tmp: ["--config", _yaml(
        tmp, "plugins:\n  - class: plugins.line_counter:LineCounter\n    params: {line: [5, 5, 5, 5]}\n")], "line:"),
    ("polygon of 2 points", lambda tmp: ["--config", _yaml(
        tmp, "plugins:\n  - class: plugins.zones:Zone\n    params: {zone: [[0, 0], [9, 9]]}\n")], "zone:"),
    ("self-intersecting polygon", lambda tmp: ["--config", _yaml(
        tmp, "plugins:\n  - class: plugins.zones:Zone\n    params: {zone: [[0, 0], [9, 9], [9, 0], [0, 9]]}\n")],
     "zone:"),
]


@pytest.mark.parametrize("build, key", [pytest.param(b, k, id=n) for n, b, k in BAD])
def test_bad_input_is_one_line_and_exit_2(tmp_path, build, key):
    result = run_cli("run", *build(tmp_path), "--publish", free_endpoint(), "--no-status", "--max-frames", "1",
                     timeout=90)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0], result.stderr


@pytest.mark.parametrize("args, key", [(["--seeds", "7,x"], "--seeds"), (["--tracker", "none"], "tracker none"),
                                       (["--tracker", "sort"], "tracker.name"), (["--frames", "1"], "--frames")])
def test_eval_track_bad_input_is_one_line_and_exit_2(args, key):
    result = run_cli("eval", "--track", *args, timeout=90)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and key in lines[0], result.stderr
