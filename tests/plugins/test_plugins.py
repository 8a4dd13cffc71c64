import pytest

from pipeline import config
from pipeline.config import ConfigError
from plugins.base import PluginError, load_plugin

MESSAGE = {"detections": [{"box": [10, 10, 20, 20], "score": 0.9, "label": "star"},
                          {"box": [300, 300, 340, 340], "score": 0.4, "label": "star"},
                          {"box": [0, 0, 4, 4], "score": 0.8, "label": "circle"}]}


def fresh():
    return {"detections": [dict(d) for d in MESSAGE["detections"]]}


def test_class_counter_counts_by_label_above_min_score():
    plugin = load_plugin({"class": "plugins.class_counter:ClassCounter", "params": {"min_score": 0.5}})
    assert plugin.on_frame(fresh())["class_counts"] == {"star": 1, "circle": 1}


def test_zone_filter_keeps_centres_inside():
    plugin = load_plugin({"class": "plugins.zone_filter:ZoneFilter", "params": {"zone": [0, 0, 100, 100]}})
    assert [d["box"][0] for d in plugin.on_frame(fresh())["detections"]] == [10, 0]


@pytest.mark.parametrize("spec, expected", [
    ({"class": "plugins.class_counter"}, "expected 'module:Class'"),
    ({"class": "plugins.nope:X"}, "cannot import"),
    ({"class": "plugins.class_counter:Nope"}, "cannot import"),
    ({"class": "plugins.class_counter:ClassCounter", "params": {"min": 1}}, "unknown parameter 'min'"),
    ({"class": "plugins.class_counter:ClassCounter", "params": {"min_score": "high"}}, "expected float"),
    ({"class": "plugins.zone_filter:ZoneFilter"}, "missing parameter(s) zone"),
])
def test_bad_plugin_specs(spec, expected):
    with pytest.raises(PluginError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_plugin(spec)


def test_config_validates_plugins(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("plugins:\n  - class: plugins.class_counter:ClassCounter\n")
    assert config.load(good)["plugins"][0]["class"] == "plugins.class_counter:ClassCounter"
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugins:\n  - class: plugins.zone_filter:ZoneFilter\n    params: {zone: 5}\n")
    with pytest.raises(ConfigError, match="plugins\\[0\\]"):
        config.load(bad)
