"""The plugin protocol and its loader.

A plugin is a class whose constructor takes keyword parameters with type
annotations (checked on load against the YAML), and which implements:
- ``start()``: once, in the sink process, before the first frame;
- ``on_frame(message, frame) -> message``: for every fast-path frame, with the
  public message (pipeline/schema.py) and the BGR frame when the run keeps
  frames (else None); return the message, changed or not;
- ``stop()``: once, at the end of the run.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any


class Plugin:
    def start(self) -> None:
        pass

    def on_frame(self, message: dict, frame=None) -> dict:
        return message

    def stop(self) -> None:
        pass


class PluginError(ValueError):
    pass


def _check_params(cls: type, params: dict, where: str) -> None:
    signature = inspect.signature(cls.__init__, eval_str=True)
    accepted = {n: p for n, p in signature.parameters.items() if n != "self"}
    for name, value in params.items():
        if name not in accepted:
            raise PluginError(f"{where}: unknown parameter {name!r} (expected one of: {', '.join(accepted)})")
        annotation = accepted[name].annotation
        expected = annotation if isinstance(annotation, type) else None
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if expected is not None and not isinstance(value, expected):
            raise PluginError(f"{where}: parameter {name!r} expected {expected.__name__}, "
                              f"got {type(value).__name__} {value!r}")
    missing = [n for n, p in accepted.items() if p.default is inspect.Parameter.empty and n not in params]
    if missing:
        raise PluginError(f"{where}: missing parameter(s) {', '.join(missing)}")


def load_plugin(spec: dict) -> Plugin:
    """``{"class": "module:Class", "params": {...}}`` -> a constructed plugin."""
    target = spec.get("class", "")
    where = f"plugin {target!r}"
    module_name, _, class_name = str(target).partition(":")
    if not module_name or not class_name:
        raise PluginError(f"{where}: expected 'module:Class', e.g. plugins.class_counter:ClassCounter")
    try:
        cls: Any = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:   # TypeError: a relative name
        raise PluginError(f"{where}: cannot import it ({exc})") from None
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise PluginError(f"{where}: params must be a mapping")
    _check_params(cls, params, where)
    try:
        plugin = cls(**params)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{where}: {exc}") from None
    for method in ("start", "on_frame", "stop"):
        if not callable(getattr(plugin, method, None)):
            raise PluginError(f"{where}: has no {method}() method")
    return plugin
