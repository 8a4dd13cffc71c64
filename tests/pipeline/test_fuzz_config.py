"""Property-based fuzzing of the config loader: whatever the file holds, a config or one ConfigError."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import config
from pipeline.config import SCHEMA, ConfigError

FUZZ = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20)
           | st.sampled_from(["tcp://0.0.0.0:1", "tcp://127.0.0.1:5556", "ipc:///tmp/x", "ipc://", "inproc://",
                              "tcp://[::1]:9", "tcp://h:0", "rtsp://x", "wait", "latest", "auto", "never"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
sections = st.sampled_from(sorted(SCHEMA) + ["plugins", "nope"])
plugin_specs = st.lists(st.fixed_dictionaries({"class": st.sampled_from(
    ["plugins.zone_filter:ZoneFilter", "plugins.class_counter:ClassCounter", "plugins.nope:X", ".rel:X",
     "plugins.base:Plugin", ":", "x"]) | st.text(max_size=10), "params": values}), max_size=2)


@st.composite
def raw_configs(draw):
    raw = {}
    for section in draw(st.lists(sections, max_size=4)):
        if section == "plugins":
            raw[section] = draw(plugin_specs | values)
            continue
        keys = sorted(SCHEMA.get(section, {})) + ["bogus"]
        raw[section] = draw(st.dictionaries(st.sampled_from(keys), values, max_size=4) | values)
    return raw


@FUZZ
@given(raw_configs())
def test_generated_configs_validate_or_raise_config_error(raw):
    try:
        cfg = config.validate(copy.deepcopy(raw), "fuzz")
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert set(SCHEMA) <= set(cfg)
    config.validate(cfg, "again")   # a validated config validates again


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{},'\"!&*#|>%@` \n\t0123456789.")), max_size=80))
def test_yaml_text_loads_or_raises_config_error(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        config.load(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.sampled_from(["source.fps", "transport.hwm", "publish.endpoint", "engine.name", "source.uri"]), values)
def test_overrides_validate_or_raise_config_error(key, value):
    try:
        config.override(config.load(None), {key: value})
    except ConfigError:
        pass


def test_yaml_dates_that_do_not_exist_are_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source: {uri: 2001-02-30}\n")
    try:
        config.load(path)
    except ConfigError as exc:
        assert "bad.yaml" in str(exc)
    else:
        raise AssertionError("loaded an impossible date")
