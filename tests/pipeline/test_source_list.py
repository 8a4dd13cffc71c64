"""Sources as a list: --source [NAME=]URI, the sources: YAML list, the old source: section."""
import pytest

from pipeline import config
from pipeline.config import ConfigError
from pipeline.source_list import parse_source_arg, stream_sources


@pytest.mark.parametrize("text, expected", [
    ("synthetic", {"uri": "synthetic"}),
    ("cam1=rtsp://10.0.0.2/live", {"name": "cam1", "uri": "rtsp://10.0.0.2/live"}),
    ("http://host/stream?a=b", {"uri": "http://host/stream?a=b"}),          # '=' inside a URL
    ("door=rtsp://u:p@h/x?y=1", {"name": "door", "uri": "rtsp://u:p@h/x?y=1"}),
    ("0", {"uri": "0"}),
])
def test_source_argument_forms(text, expected):
    assert parse_source_arg(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("cam/1=synthetic", "name 'cam/1' is not valid"),
    ("cam1=", "nothing after '='"),
    ("cam 1=x.mp4", "name 'cam 1' is not valid"),
])
def test_bad_source_arguments_are_one_line(text, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_source_arg(text)


def sources_of(raw_sources, **source):
    return stream_sources(config.validate({"sources": raw_sources, "source": source}, "c.yaml"))


def test_list_entries_take_missing_keys_from_the_source_section():
    streams = sources_of([{"uri": "synthetic"}, {"name": "door", "uri": "synthetic", "fps": 5, "seed": 9}],
                         fps=12, max_frames=30, seed=3)
    assert [s["name"] for s in streams] == ["cam0", "door"]
    assert streams[0]["fps"] == 12 and streams[1]["fps"] == 5
    assert streams[0]["max_frames"] == streams[1]["max_frames"] == 30
    assert streams[0]["seed"] == 3 and streams[1]["seed"] == 9


def test_old_source_section_is_one_stream_or_k_synthetic_streams():
    assert [s["name"] for s in stream_sources(config.load(None))] == ["cam0"]
    cfg = config.validate({"source": {"streams": 3, "seed": 5}})
    assert [(s["name"], s["seed"]) for s in stream_sources(cfg)] == [("cam0", 5), ("cam1", 6), ("cam2", 7)]


def test_k_streams_of_a_file_names_the_key():
    cfg = config.validate({"source": {"uri": "clip.mp4", "streams": 2}})
    with pytest.raises(ConfigError, match="source.streams > 1 is only for the synthetic source"):
        stream_sources(cfg)


@pytest.mark.parametrize("raw, expected", [
    ([{"name": "a", "uri": "synthetic"}, {"name": "a", "uri": "x.mp4"}], r"sources\[1\]: duplicate stream name 'a'"),
    ([{"uri": "synthetic"}, {"name": "cam0", "uri": "x.mp4"}], r"sources\[1\]: duplicate stream name 'cam0'"),
    ([{"name": "a/b", "uri": "synthetic"}], r"sources\[0\] \(a/b\): name 'a/b' is not valid"),
    ([{"name": "door", "uri": "synthetic", "fsp": 5}], r"sources\[0\] \(door\): fsp: unknown key"),
    ([{"name": "door", "uri": "synthetic", "fps": "fast"}], r"sources\[0\] \(door\): fps: expected int or float"),
    ([{"name": "door", "uri": "synthetic", "fps": 0}], r"fps: expected a positive number"),
    ([{"name": "door"}], r"sources\[0\] \(door\): uri: missing"),
    ([{"name": "door", "uri": " "}], r"uri: missing"),
    (["synthetic"], r"sources\[0\]: expected a mapping"),
    ({"uri": "synthetic"}, r"sources: expected a list"),
])
def test_bad_sources_lists_name_the_source_and_the_key(raw, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        config.validate({"sources": raw}, "c.yaml")
    assert str(info.value).startswith("c.yaml: ") and "\n" not in str(info.value)


def test_a_list_and_source_streams_together_are_refused():
    with pytest.raises(ConfigError, match="either a sources: list or source.streams"):
        config.validate({"sources": [{"uri": "synthetic"}], "source": {"streams": 2}})


def test_command_line_list_replaces_the_files_list_and_survives_revalidation():
    cfg = config.validate({"sources": [{"name": "a", "uri": "synthetic"}]})
    cfg = config.override(cfg, {"sources": [{"uri": "synthetic"}, {"name": "b", "uri": "synthetic"}],
                                "source.max_frames": 7})
    assert [(s["name"], s["max_frames"]) for s in stream_sources(cfg)] == [("cam0", 7), ("b", 7)]


@pytest.mark.parametrize("api, expected", [
    ({"host": "0.0.0.0"}, "needs transport.allow_remote: true and an api.token"),
    ({"port": 0}, "api.port: expected 1-65535"),
    ({"preview_fps": 0}, "api.preview_fps: expected a positive number"),
])
def test_api_settings_are_checked(api, expected):
    with pytest.raises(ConfigError, match=expected):
        config.validate({"api": api})


def test_api_beyond_loopback_with_allow_remote_and_a_token_is_accepted():
    cfg = config.validate({"api": {"host": "0.0.0.0", "token": "s3cret"}, "transport": {"allow_remote": True}})
    assert cfg["api"]["host"] == "0.0.0.0"
    with pytest.raises(ConfigError):          # allow_remote alone is not enough
        config.validate({"api": {"host": "0.0.0.0"}, "transport": {"allow_remote": True}})
