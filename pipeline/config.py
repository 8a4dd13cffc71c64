"""Run configuration: YAML files in configs/, validated on load, overridden by the command line.

The schema below is the single source of truth for keys, types and defaults.
Any unknown key, wrong type or bad endpoint stops the run with one line naming
the file, the key and what was expected.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipeline.transport import Endpoint, EndpointError, POLICIES

ANY_NUMBER = (int, float)
OPT_STR, OPT_INT, OPT_NUM = (str, type(None)), (int, type(None)), (int, float, type(None))

# key -> (accepted types, default, allowed values or None)
SCHEMA: dict[str, dict[str, tuple]] = {
    "source": {
        "uri": ((str, int), "synthetic", None),       # synthetic | webcam index | URL | file | folder
        "width": (int, 640, None), "height": (int, 480, None),
        "fps": (ANY_NUMBER, 30.0, None),
        "seed": (int, 0, None),
        "streams": (int, 1, None),                   # synthetic: K streams (seeds seed..seed+K-1)
        "realtime": (bool, False, None),             # pace files/synthetic to fps
        "live": ((bool, type(None)), None, None),    # None: webcam/network are live, others not
        "max_frames": (OPT_INT, None, None),
        "loop": (bool, False, None),
        "stall_timeout_s": (ANY_NUMBER, 5.0, None),
    },
    "model": {
        "name": (str, "yolo", None),
        "size": (OPT_STR, None, None),
        "weights": (OPT_STR, None, None),
        "conf_threshold": (ANY_NUMBER, 0.25, None),
        "iou_threshold": (ANY_NUMBER, 0.45, None),
        "max_det": (int, 100, None),
    },
    "engine": {
        "name": (str, "auto", ("auto", "torch", "onnxruntime", "tensorrt")),
        "device": (str, "auto", None),
        "half": (bool, False, None),
        "threads": (int, 1, None),
        "max_batch": (int, 1, None),
        "batch_wait_ms": (ANY_NUMBER, 2.0, None),
        "preprocess_on": (str, "auto", ("auto", "cpu", "gpu")),   # gpu: letterbox in the inference stage on CUDA
        "compile": (bool, False, None),              # torch engine: torch.compile
        "cuda_graph": (bool, False, None),           # torch engine: CUDA-graph replay for fixed shapes
        "tensorrt_ep": (bool, False, None),          # onnxruntime engine: try the TensorRT execution provider
    },
    "transport": {
        "mode": (str, "ipc", ("ipc", "tcp")),
        "policy": (str, "auto", ("auto",) + POLICIES),
        "hwm": (int, 4, None),
        "slots": (int, 8, None),                     # shared-memory slots per ring: frames in flight per hop
        "allow_remote": (bool, False, None),
        "endpoints": (dict, {}, None),               # stage -> endpoint it binds (overrides)
        "base_port": (int, 5600, None),              # tcp mode: stage ports from here
        "shared_memory": (str, "auto", ("auto", "never")),   # never: arrays ride ZeroMQ (hosts share no memory)
    },
    "publish": {
        "endpoint": (str, "tcp://127.0.0.1:5556", None),
        "encoding": (str, "json", ("json", "msgpack")),
    },
    "sinks": {
        "jsonl": (OPT_STR, None, None),
        "video": (OPT_STR, None, None),
        "status": (bool, True, None),
        "summary": (OPT_STR, None, None),            # write the end-of-run summary JSON here
    },
    "branch": {                                      # the side branch (docs: README, pipeline/branch.py)
        "model": (OPT_STR, None, None),              # None: no side branch; e.g. maskrcnn
        "size": (OPT_STR, None, None),
        "weights": (OPT_STR, None, None),
        "engine": (str, "auto", ("auto", "torch", "onnxruntime", "tensorrt")),
        "device": (str, "auto", None),
        "threads": (int, 1, None),
        "conf_threshold": (ANY_NUMBER, 0.5, None),
        "every_n": (int, 0, None),                   # every Nth frame of a stream (0: off)
        "classes": (list, [], None),                 # fast-path class ids or labels that trigger it
        "low_confidence": (OPT_NUM, None, None),     # a fast-path detection scored below this triggers it
        "request_endpoint": (OPT_STR, None, None),   # subscribers PUSH a stream name: its next frame goes
    },
    "security": {                                    # CURVE on every tcp socket (pipeline/security.py)
        "curve": (OPT_STR, None, None),              # key directory written by run_pipeline.py keys --out DIR
        "insecure": (bool, False, None),             # true: allow listening beyond loopback without CURVE
    },
    "supervisor": {
        "max_restarts": (int, 5, None),
        "stop_timeout_s": (ANY_NUMBER, 5.0, None),
        "ready_timeout_s": (ANY_NUMBER, 900.0, None),    # model loading; a TensorRT build takes minutes
        "stages": (list, [], None),                  # run only these here (others on other hosts); [] = all
        "standby": (bool, False, None),              # a warm spare per model stage: restarts in milliseconds
    },
}
STAGE_ENDPOINT_KEYS = ("preprocess", "inference", "postprocess", "sink", "branch")


class ConfigError(ValueError):
    pass


def defaults() -> dict:
    return {section: {k: copy.deepcopy(v[1]) for k, v in keys.items()} for section, keys in SCHEMA.items()}


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def validate(raw: Any, origin: str = "<config>") -> dict:
    """Merge ``raw`` over the defaults, checking every key; returns a new dict."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections at the top level")
    cfg = defaults()
    cfg["plugins"] = _plugins(raw.get("plugins", []), origin)
    for section, values in raw.items():
        if section == "plugins":
            continue
        if section not in SCHEMA:
            raise ConfigError(f"{origin}: unknown section {section!r} (expected one of: {', '.join(SCHEMA)}, plugins)")
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
        raise ConfigError(f"{origin}: {section}.{key}: unknown key (expected one of: {', '.join(SCHEMA[section])})")
    types, _, allowed = spec
    bad_bool = isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
    if not isinstance(value, types) or bad_bool:
        raise ConfigError(f"{origin}: {section}.{key}: expected {_type_names(types)}, "
                          f"got {type(value).__name__} {value!r}")
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{origin}: {section}.{key}: expected one of {', '.join(map(str, allowed))}, got {value!r}")


def _check_semantics(origin: str, cfg: dict) -> None:
    positive = [("source", "width"), ("source", "height"), ("source", "fps"), ("source", "streams"),
                ("engine", "threads"), ("engine", "max_batch"), ("transport", "hwm"), ("transport", "slots")]
    for section, key in positive:
        if cfg[section][key] <= 0:
            raise ConfigError(f"{origin}: {section}.{key}: expected a positive number, got {cfg[section][key]!r}")
    for key in ("conf_threshold", "iou_threshold"):
        if not 0 <= cfg["model"][key] <= 1:
            raise ConfigError(f"{origin}: model.{key}: expected a number in [0, 1], got {cfg['model'][key]!r}")
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
    _check_security(origin, cfg)


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
        section, key = dotted.split(".", 1)
        merged[section][key] = value
    return validate(merged, origin)
