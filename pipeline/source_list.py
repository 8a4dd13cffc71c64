"""Sources as a list: ``--source [NAME=]URI`` (repeatable), the YAML ``sources:`` list, the old ``source:``.

Every entry becomes one stream with its own capture process. An entry holds
``name``, ``uri`` and any per-source key of the ``source`` section (fps,
live, loop, realtime, max_frames, stall_timeout_s, width, height, seed);
keys an entry leaves out take the ``source`` section's value, so
``--max-frames`` or ``source.fps`` still apply to every stream. Without a
``sources:`` list the ``source`` section is the one stream (or K synthetic
streams with ``source.streams: K``), exactly as before.

``stream_sources(cfg)`` is the resolved list every consumer reads.
"""
from __future__ import annotations

import re
from typing import Any

from pipeline.config_schema import SCHEMA, ConfigError, _type_names

NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
PER_SOURCE_KEYS = tuple(k for k in SCHEMA["source"] if k not in ("streams", "uri"))
ENTRY_KEYS = ("name", "uri") + PER_SOURCE_KEYS
POSITIVE_KEYS = ("width", "height", "fps", "stall_timeout_s")


def check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} is not valid (letters, digits, '_', '.', '-' only)")
    return name


def parse_source_arg(text: str) -> dict:
    """``URI`` or ``NAME=URI`` from the command line -> {"uri"} or {"name", "uri"}.

    A prefix before the first '=' that contains '://' belongs to a URL
    (``http://host/?a=b``), so it is not taken for a name.
    """
    name, sep, uri = text.partition("=")
    if not sep or "://" in name:
        return {"uri": text}
    check_name(name, f"--source {text!r}")
    if not uri.strip():
        raise ConfigError(f"--source {text!r}: nothing after '=' (expected NAME=URI)")
    return {"name": name, "uri": uri}


def check_entry(raw: Any, where: str) -> dict:
    """One ``sources:`` mapping (or a POST /streams body): known keys, right types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with uri and optional per-source keys")
    if "name" in raw:
        where = f"{where} ({raw['name']})"
        check_name(raw["name"], where)
    for key, value in raw.items():
        if key == "name":
            continue
        if key not in ENTRY_KEYS:
            raise ConfigError(f"{where}: {key}: unknown key (expected one of: {', '.join(ENTRY_KEYS)})")
        types = SCHEMA["source"][key][0]
        bad_bool = isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
        if not isinstance(value, types) or bad_bool:
            raise ConfigError(f"{where}: {key}: expected {_type_names(types)}, got {type(value).__name__} {value!r}")
        if key in POSITIVE_KEYS and value <= 0:
            raise ConfigError(f"{where}: {key}: expected a positive number, got {value!r}")
    if "uri" not in raw or (isinstance(raw["uri"], str) and not raw["uri"].strip()):
        raise ConfigError(f"{where}: uri: missing (expected synthetic, a webcam index, a URL, a file or a folder)")
    return dict(raw)


def check_sources(raw: Any, origin: str) -> list[dict]:
    """The ``sources:`` list: each entry checked, names filled in (cam0, cam1, ... by position), unique."""
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: sources: expected a list of {{name, uri, ...}} mappings")
    entries = [check_entry(e, f"{origin}: sources[{i}]") for i, e in enumerate(raw)]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        entry.setdefault("name", f"cam{i}")
        if entry["name"] in seen:
            raise ConfigError(f"{origin}: sources[{i}]: duplicate stream name {entry['name']!r}")
        seen.add(entry["name"])
    return entries


def resolve_entry(entry: dict, defaults: dict, index: int = 0) -> dict:
    """An entry with every per-source key: what it says, else the ``source`` section's value.

    A synthetic entry without its own seed gets ``source.seed + index`` (distinct scenes).
    """
    full = {k: defaults[k] for k in PER_SOURCE_KEYS}
    if "seed" not in entry:
        full["seed"] = defaults["seed"] + index
    full.update(entry)
    return full


def stream_sources(cfg: dict) -> list[dict]:
    """Every stream of the run, resolved: [{name, uri, fps, live, ...}, ...]."""
    source = cfg["source"]
    if cfg.get("sources"):
        return [resolve_entry(e, source, i) for i, e in enumerate(cfg["sources"])]
    if source["streams"] > 1 and str(source["uri"]) != "synthetic":
        raise ConfigError(f"source.streams > 1 is only for the synthetic source, not {source['uri']!r} "
                          "(list several sources instead)")
    return [resolve_entry({"name": f"cam{i}", "uri": source["uri"]}, source, i)
            for i in range(source["streams"])]


def check_sources_semantics(origin: str, cfg: dict) -> None:
    if cfg.get("sources") and cfg["source"]["streams"] != 1:
        raise ConfigError(f"{origin}: source.streams: use either a sources: list or source.streams, not both")
