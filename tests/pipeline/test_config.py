from pathlib import Path

import pytest

from pipeline import config
from pipeline.config import ConfigError

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_default():
    cfg = config.load(None)
    assert cfg["source"]["uri"] == "synthetic" and cfg["model"]["name"] == "yolo"
    assert cfg["publish"]["endpoint"] == "tcp://127.0.0.1:5556"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    assert config.load(path)["source"]["uri"]


def test_shipped_configs_cover_the_uses():
    names = {p.stem for p in CONFIGS}
    assert {"default", "yolo_rtsp", "centernet_file", "maskrcnn"} <= names


@pytest.mark.parametrize("text, expected", [
    ("sourse:\n  uri: synthetic\n", "unknown section 'sourse'"),
    ("source:\n  url: x\n", "source.url: unknown key"),
    ("engine:\n  threads: two\n", "engine.threads: expected a positive integer or 'auto', got 'two'"),
    ("engine:\n  threads: 0\n", "engine.threads: expected a positive integer or 'auto', got 0"),
    ("engine:\n  parallel: 0\n", "engine.parallel: expected a positive integer or 'auto', got 0"),
    ("engine:\n  parallel: many\n", "engine.parallel: expected a positive integer or 'auto', got 'many'"),
    ("engine:\n  threads: 1.5\n", "engine.threads: expected int or str, got float 1.5"),
    ("engine:\n  half: 1\n", "engine.half: expected bool"),
    ("engine:\n  cuda_graph: sometimes\n", "engine.cuda_graph: expected one of True, False, auto, got 'sometimes'"),
    ("source:\n  fps: true\n", "source.fps: expected int or float, got bool"),
    ("engine:\n  name: tensorflow\n", "engine.name: expected one of auto, torch"),
    ("model:\n  conf_threshold: 1.5\n", "model.conf_threshold: expected a number in [0, 1]"),
    ("publish:\n  endpoint: localhost:5556\n", "is not an endpoint"),
    ("publish:\n  endpoint: tcp://127.0.0.1:99999\n", "port 1-65535"),
    ("publish:\n  endpoint: udp://127.0.0.1:5\n", "unknown transport 'udp'"),
    ("publish:\n  endpoint: tcp://0.0.0.0:5556\n", "refusing to listen beyond 127.0.0.1"),
    ("transport:\n  endpoints:\n    capture: ipc:///tmp/x\n", "transport.endpoints.capture: unknown stage"),
    ("- just\n- a list\n", "expected a mapping of sections"),
    ("source: [1, 2]\n", "source: expected a mapping"),
    ("source:\n  uri: 'x\n", "not valid YAML"),
])
def test_bad_config_names_file_key_and_expectation(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_remote_bind_allowed_when_config_says_so(tmp_path):
    # beyond loopback also needs CURVE or an explicit security.insecure (issue 14; tests/pipeline/test_curve.py)
    cfg = config.load(write(tmp_path, "transport:\n  allow_remote: true\npublish:\n  endpoint: tcp://0.0.0.0:5556\n"
                                      "security:\n  insecure: true\n"))
    assert cfg["publish"]["endpoint"] == "tcp://0.0.0.0:5556"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")


def test_command_line_overrides_and_revalidates():
    cfg = config.override(config.load(None), {"source.uri": "clip.mp4", "engine.threads": None})
    assert cfg["source"]["uri"] == "clip.mp4" and cfg["engine"]["threads"] == "auto"
    with pytest.raises(ConfigError, match="command line: engine.threads"):
        config.override(cfg, {"engine.threads": -1})


def test_an_unknown_key_with_a_newline_is_named_on_one_line():
    # found by tests/pipeline/test_fuzz_config.py once the api section existed: the key was printed raw
    with pytest.raises(ConfigError) as caught:
        config.validate({"api": {"bad\nkey": None}}, "c.yaml")
    assert "\n" not in str(caught.value) and "'bad\\nkey'" in str(caught.value)


def test_cuda_graph_defaults_to_auto_and_reaches_the_engine_as_given():
    from pipeline.stages.arguments import engine_options
    cfg = config.load(None)
    assert cfg["engine"]["cuda_graph"] == "auto"
    assert engine_options(cfg["engine"])["cuda_graph"] == "auto"
    off = config.override(cfg, {"engine.cuda_graph": False})
    assert "cuda_graph" not in engine_options(off["engine"])
    assert engine_options(config.override(cfg, {"engine.cuda_graph": True})["engine"])["cuda_graph"] is True
