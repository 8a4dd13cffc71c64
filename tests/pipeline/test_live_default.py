"""The embedded default behaves like a camera; bench keeps as-fast-as-possible, no drops."""
from pipeline import config
from pipeline.bench.pipeline_bench import bench_config
from pipeline.sources.factory import is_paced, make_source
from pipeline.run_plan import hop_policy


def test_default_is_paced_at_30_fps_with_newest_frame_wins():
    cfg = config.load(None)
    assert cfg["source"]["fps"] == 30 and is_paced(cfg["source"])
    assert make_source(cfg["source"]).realtime is True
    assert hop_policy(cfg) == "latest"
    assert cfg["engine"]["threads"] == "auto"


def test_the_shipped_default_yaml_says_the_same():
    cfg = config.load("configs/default.yaml")
    assert is_paced(cfg["source"]) and hop_policy(cfg) == "latest" and cfg["engine"]["threads"] == "auto"


def test_files_are_not_paced_and_keep_every_frame(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    cfg = config.override(config.load(None), {"source.uri": str(video)})
    assert not is_paced(cfg["source"]) and hop_policy(cfg) == "wait"


def test_explicit_settings_win():
    cfg = config.override(config.load(None), {"source.realtime": False})
    assert not is_paced(cfg["source"]) and hop_policy(cfg) == "wait"
    cfg = config.override(config.load(None), {"transport.policy": "wait"})
    assert is_paced(cfg["source"]) and hop_policy(cfg) == "wait"


def test_bench_runs_as_fast_as_possible_without_drops():
    cfg = bench_config(config.load(None), frames=10, warmup=2)
    assert not is_paced(cfg["source"]) and hop_policy(cfg) == "wait"


def test_threads_in_config(tmp_path):
    import pytest
    for bad in (0, -2, "many"):
        with pytest.raises(config.ConfigError, match="engine.threads: expected a positive integer or 'auto'"):
            config.override(config.load(None), {"engine.threads": bad})
    assert config.override(config.load(None), {"engine.threads": 2})["engine"]["threads"] == 2
