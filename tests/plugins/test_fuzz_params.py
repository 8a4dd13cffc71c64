"""Property-based fuzzing of plugin parameters: a plugin or one PluginError, never another error."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.base import Plugin, PluginError, load_plugin

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=10)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
targets = st.sampled_from(["plugins.zone_filter:ZoneFilter", "plugins.class_counter:ClassCounter",
                           "plugins.base:Plugin", "plugins.nope:X", "plugins.base:Nope", ".rel:X", "..:X",
                           "plugins:", ":X", "plugins.base:PluginError"]) | values
param_names = st.sampled_from(["zone", "min_score", "self", "kwargs", "x"]) | st.text(max_size=5)


@FUZZ
@given(targets, st.dictionaries(param_names, values, max_size=3) | values)
def test_plugin_specs_load_or_raise_plugin_error(target, params):
    try:
        plugin = load_plugin({"class": target, "params": params})
    except PluginError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(plugin, Plugin) or all(callable(getattr(plugin, m)) for m in ("start", "on_frame", "stop"))
