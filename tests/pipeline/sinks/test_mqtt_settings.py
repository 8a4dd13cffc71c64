"""publish.mqtt and --mqtt values: accepted forms and one-line errors (no broker needed)."""
import pytest

from pipeline import config
from pipeline.sinks.mqtt import topic_segment
from pipeline.sinks.mqtt_settings import MqttSettingsError, check, parse_address


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:1883", {"host": "127.0.0.1", "port": 1883}),
    ("broker.local", {"host": "broker.local", "port": 1883}),
    ("[::1]:8883", {"host": "::1", "port": 8883}),
    (" localhost:1 ", {"host": "localhost", "port": 1}),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, words", [
    ("localhost:0", "1..65535"), ("localhost:65536", "1..65535"), ("localhost:abc", "port"),
    (":1883", "HOST:PORT"), ("", "HOST:PORT"), ("::1:1883", "IPv6"), ("user@host:1883", "HOST:PORT"),
    ("mqtt://host:1883", "IPv6"), ("[::1]x", "HOST:PORT"),
])
def test_bad_address_is_one_line(text, words):
    with pytest.raises(MqttSettingsError, match=words) as info:
        parse_address(text)
    assert "\n" not in str(info.value)


def test_check_fills_defaults():
    assert check({"host": "h"}) == {"host": "h", "port": 1883, "topic_prefix": "streamdet", "qos": 0,
                                    "username": None, "password": None, "tls": False, "ca_certs": None,
                                    "max_pending": 1000}


@pytest.mark.parametrize("raw, words", [
    ({}, "host: expected str"), ({"host": "h", "qos": 3}, "qos"), ({"host": "h", "port": "1883"}, "port"),
    ({"host": "h", "tls": 1}, "tls"), ({"host": "h", "qos": True}, "qos"),
    ({"host": "h", "topic_prefix": "a/#"}, "topic_prefix"), ({"host": "h", "topic_prefix": "/a"}, "topic_prefix"),
    ({"host": "h", "password": "x"}, "without username"), ({"host": "h", "hots": 1}, "hots: unknown key"),
    ({"host": "h", "max_pending": 0}, "max_pending"), ({"host": "h", "ca_certs": "ca.pem"}, "without tls"), ("h:1883", "mapping"),
])
def test_check_rejects(raw, words):
    with pytest.raises(MqttSettingsError, match=words):
        check(raw)


def test_config_validates_publish_mqtt_and_names_the_file():
    cfg = config.validate({"publish": {"mqtt": {"host": "127.0.0.1", "qos": 1}}}, "cam.yaml")
    assert cfg["publish"]["mqtt"]["qos"] == 1 and cfg["publish"]["mqtt"]["port"] == 1883
    assert config.validate({}, "x")["publish"]["mqtt"] is None
    with pytest.raises(config.ConfigError, match=r"^cam.yaml: publish.mqtt.port"):
        config.validate({"publish": {"mqtt": {"host": "h", "port": 0}}}, "cam.yaml")


def test_topic_segment_has_no_separator_or_wildcard():
    assert topic_segment("cam/0+#") == "cam_0__" and topic_segment("") == "_" and topic_segment("cam0") == "cam0"


@pytest.mark.parametrize("value", ["localhost:0", "a b:1883", "host:port"])
def test_bad_mqtt_option_is_one_line_and_exit_2(value):
    from tests.test_cli import run_cli
    result = run_cli("run", "--mqtt", value, "--max-frames", "1", timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --mqtt") and "Traceback" not in result.stderr
