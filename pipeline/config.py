"""Run configuration: YAML files in configs/, validated on load, overridden by the command line.

The schema (pipeline/config_schema.py) is the single source of truth for keys, types and defaults.
Any unknown key, wrong type or bad endpoint stops the run with one line naming
the file, the key and what was expected.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipeline.config_schema import (ANY_NUMBER, OPT_INT, OPT_NUM, OPT_STR,  # noqa: F401 (re-exported)
                                    SCHEMA, STAGE_ENDPOINT_KEYS, ConfigError, _type_names)
from pipeline.tracking.settings import check_tracker
from pipeline.transport import Endpoint, EndpointError

def defaults() -> dict:
    return {section: {k: copy.deepcopy(v[1]) for k, v in keys.items()} for section, keys in SCHEMA.items()}


def validate(raw: Any, origin: str = "<config>") -> dict:
    """Merge ``raw`` over the defaults, checking every key; returns a new dict."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections at the top level")
    cfg = defaults()
    cfg["plugins"] = _plugins(raw.get("plugins", []), origin)
    from pipeline.source_list import check_sources
    cfg["sources"] = check_sources(raw.get("sources") or [], origin)
    for section, values in raw.items():
        if section in ("plugins", "sources"):
            continue
        if section not in SCHEMA:
            raise ConfigError(f"{origin}: unknown section {section!r} "
                              f"(expected one of: {', '.join(SCHEMA)}, plugins, sources)")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: {section}: expected a mapping, got {type(values).__name__}")
        for key, value in values.items():
            _check_value(origin, section, key, value)
            cfg[section][key] = value
    _check_semantics(origin, cfg)
    return cfg


def _plugins(raw: Any, origin: str) -> list[dict]:
    """``plugins:`` is a list of {class: module:Class, params: {...}}; checked by loading them."""
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: plugins: expected a list of {{class: module:Class, params: {{...}}}}")
    from plugins.base import PluginError, load_plugin
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict) or set(spec) - {"class", "params"}:
            raise ConfigError(f"{origin}: plugins[{i}]: expected keys class and params")
        try:
            load_plugin(spec)
        except (PluginError, ValueError) as exc:
            raise ConfigError(f"{origin}: plugins[{i}]: {exc}") from None
    return raw


def _check_value(origin: str, section: str, key: str, value: Any) -> None:
    spec = SCHEMA[section].get(key)
    if spec is None:
        shown = key if isinstance(key, str) and key.isprintable() else repr(key)   # one line, always
        raise ConfigError(f"{origin}: {section}.{shown}: unknown key (expected one of: {', '.join(SCHEMA[section])})")
    types, _, allowed = spec
    bad_bool = isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
    if not isinstance(value, types) or bad_bool:
        raise ConfigError(f"{origin}: {section}.{key}: expected {_type_names(types)}, "
                          f"got {type(value).__name__} {value!r}")
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{origin}: {section}.{key}: expected one of {', '.join(map(str, allowed))}, got {value!r}")


def _check_semantics(origin: str, cfg: dict) -> None:
    positive = [("source", "width"), ("source", "height"), ("source", "fps"), ("source", "streams"),
                ("engine", "max_batch"), ("transport", "hwm"), ("transport", "slots"),
                ("source", "frame_step")]
    for section, key in positive:
        if cfg[section][key] <= 0:
            raise ConfigError(f"{origin}: {section}.{key}: expected a positive number, got {cfg[section][key]!r}")
    inflight, slots = cfg["transport"]["live_inflight"], cfg["transport"]["slots"]
    if not 0 <= inflight < slots:      # more than a ring holds would let capture overwrite frames in flight
        raise ConfigError(f"{origin}: transport.live_inflight: expected 0 (no limit) to transport.slots - 1 "
                          f"({slots - 1}), got {inflight!r}")
    for key in ("threads", "parallel"):      # the schema has refused bools already
        value = cfg["engine"][key]
        if value != "auto" and (not isinstance(value, int) or value <= 0):
            raise ConfigError(f"{origin}: engine.{key}: expected a positive integer or 'auto', got {value!r}")
    for key in ("conf_threshold", "iou_threshold"):
        if not 0 <= cfg["model"][key] <= 1:
            raise ConfigError(f"{origin}: model.{key}: expected a number in [0, 1], got {cfg['model'][key]!r}")
    problem = check_tracker(cfg["tracker"])
    if problem:
        raise ConfigError(f"{origin}: {problem}")
    try:
        Endpoint.parse(cfg["publish"]["endpoint"]).check_bind(cfg["transport"]["allow_remote"])
        for stage, url in cfg["transport"]["endpoints"].items():
            if stage not in STAGE_ENDPOINT_KEYS:
                raise ConfigError(f"{origin}: transport.endpoints.{stage}: unknown stage "
                                  f"(expected one of: {', '.join(STAGE_ENDPOINT_KEYS)})")
            Endpoint.parse(url).check_bind(cfg["transport"]["allow_remote"])
        if cfg["branch"]["request_endpoint"]:
            Endpoint.parse(cfg["branch"]["request_endpoint"]).check_bind(cfg["transport"]["allow_remote"])
    except EndpointError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    from pipeline.source_list import check_sources_semantics
    check_sources_semantics(origin, cfg)
    _check_api(origin, cfg)
    _check_security(origin, cfg)
    _check_mqtt(origin, cfg)


def _check_api(origin: str, cfg: dict) -> None:
    api = cfg["api"]
    if not 0 < api["port"] < 65536:
        raise ConfigError(f"{origin}: api.port: expected 1-65535, got {api['port']!r}")
    if api["preview_fps"] <= 0:
        raise ConfigError(f"{origin}: api.preview_fps: expected a positive number, got {api['preview_fps']!r}")
    if Endpoint(api["host"], "tcp", host=api["host"]).is_local or not api["enabled"]:
        return
    if not (cfg["transport"]["allow_remote"] and api["token"]):
        raise ConfigError(f"{origin}: api.host {api['host']}: serving the API beyond loopback needs "
                          "transport.allow_remote: true and an api.token")



def _check_security(origin: str, cfg: dict) -> None:
    """Beyond loopback only with CURVE (or security.insecure: true); a usable key directory."""
    from pipeline.security import CurveError, check_key_dir
    security = cfg["security"]
    if security["curve"]:
        try:
            check_key_dir(security["curve"])
        except CurveError as exc:
            raise ConfigError(f"{origin}: security.curve: {exc}") from None
        return
    binds = [cfg["publish"]["endpoint"], *cfg["transport"]["endpoints"].values(), cfg["branch"]["request_endpoint"]]
    remote = [url for url in binds if url and not Endpoint.parse(url).is_local]
    if remote and not security["insecure"]:
        raise ConfigError(f"{origin}: {remote[0]}: refusing to listen beyond loopback without CURVE; set "
                          "security.curve: DIR (keys from run_pipeline.py keys --out DIR) or, to accept "
                          "unauthenticated peers, security.insecure: true")


def _check_mqtt(origin: str, cfg: dict) -> None:
    from pipeline.sinks.mqtt_settings import MqttSettingsError, check
    if cfg["publish"]["mqtt"] is not None:
        try:
            cfg["publish"]["mqtt"] = check(cfg["publish"]["mqtt"])
        except MqttSettingsError as exc:
            raise ConfigError(f"{origin}: {exc}") from None


def load(path: str | Path | None) -> dict:
    """Defaults merged with the YAML file at ``path`` (None: defaults only)."""
    if path is None:
        return validate({}, "<defaults>")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except (ValueError, RecursionError) as exc:   # e.g. a date that does not exist (2001-02-30)
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return validate(raw, str(path))


def override(cfg: dict, overrides: dict[str, Any], origin: str = "command line") -> dict:
    """Apply ``{"section.key": value}`` (None values are ignored) and re-validate."""
    merged = copy.deepcopy(cfg)
    for dotted, value in overrides.items():
        if value is None:
            continue
        if "." not in dotted:      # a whole top-level entry, e.g. "sources"
            merged[dotted] = value
            continue
        section, key = dotted.split(".", 1)
        merged[section][key] = value
    return validate(merged, origin)
