"""``publish.mqtt`` settings and the ``--mqtt HOST[:PORT]`` value, checked without importing paho.

    publish:
      mqtt: {host: 127.0.0.1, port: 1883, topic_prefix: streamdet, qos: 0,
             username: null, password: null, tls: false, ca_certs: null, max_pending: 1000}
"""
from __future__ import annotations

from typing import Any

DEFAULT_PORT = 1883
# key -> (accepted types, default); host is required
KEYS: dict[str, tuple[tuple, Any]] = {
    "host": ((str,), None),
    "port": ((int,), DEFAULT_PORT),
    "topic_prefix": ((str,), "streamdet"),
    "qos": ((int,), 0),
    "username": ((str, type(None)), None),
    "password": ((str, type(None)), None),
    "tls": ((bool,), False),
    "ca_certs": ((str, type(None)), None),  # with tls: the CA file that signed the broker's cert (None: system CAs)
    "max_pending": ((int,), 1000),          # messages handed to paho but not yet written; beyond: dropped
}
TOPIC_FORBIDDEN = ("+", "#", "\0")


class MqttSettingsError(ValueError):
    pass


def parse_address(text: str) -> dict:
    """``HOST[:PORT]`` (``[v6addr]:PORT`` for IPv6) -> {"host", "port"}; raises MqttSettingsError."""
    text = text.strip()
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise MqttSettingsError(f"--mqtt {text!r}: expected HOST:PORT")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise MqttSettingsError(f"--mqtt {text!r}: write an IPv6 address as [ADDR]:PORT")
    if not host or any(c.isspace() or c in "/@" for c in host):
        raise MqttSettingsError(f"--mqtt {text!r}: expected HOST:PORT, e.g. 127.0.0.1:1883")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise MqttSettingsError(f"--mqtt {text!r}: port must be a number in 1..65535, got {port!r}")
    return {"host": host, "port": int(port)}


def check(raw: Any, where: str = "publish.mqtt") -> dict:
    """Defaults merged under ``raw`` with every key checked; raises MqttSettingsError (one line)."""
    if not isinstance(raw, dict):
        raise MqttSettingsError(f"{where}: expected a mapping {{host, port, ...}}, got {type(raw).__name__}")
    unknown = set(raw) - set(KEYS)
    if unknown:
        raise MqttSettingsError(f"{where}.{sorted(unknown)[0]}: unknown key (expected one of: {', '.join(KEYS)})")
    out = {key: raw.get(key, default) for key, (_, default) in KEYS.items()}
    for key, (types, _) in KEYS.items():
        value = out[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise MqttSettingsError(f"{where}.{key}: expected {names}, got {type(value).__name__} {value!r}")
    if not out["host"] or any(c.isspace() or c in "/@[]" for c in out["host"]):
        raise MqttSettingsError(f"{where}.host: expected a host name or address, got {out['host']!r}")
    if not 1 <= out["port"] <= 65535:
        raise MqttSettingsError(f"{where}.port: expected a number in 1..65535, got {out['port']!r}")
    if out["qos"] not in (0, 1, 2):
        raise MqttSettingsError(f"{where}.qos: expected 0, 1 or 2, got {out['qos']!r}")
    prefix = out["topic_prefix"]
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(c in prefix for c in TOPIC_FORBIDDEN):
        raise MqttSettingsError(f"{where}.topic_prefix: expected a topic without + # or a leading/trailing /, "
                                f"got {prefix!r}")
    if out["max_pending"] <= 0:
        raise MqttSettingsError(f"{where}.max_pending: expected a positive number, got {out['max_pending']!r}")
    if out["ca_certs"] is not None and not out["tls"]:
        raise MqttSettingsError(f"{where}.ca_certs: given without tls: true")
    if out["password"] is not None and out["username"] is None:
        raise MqttSettingsError(f"{where}.password: given without username")
    return out
