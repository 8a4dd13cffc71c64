"""bench.json writing: strict JSON (no NaN / Infinity) and every device resolved.

A missing measurement is ``null``; a device still spelled ``auto`` means the
bench recorded the request instead of what ran, which is a bug: it raises.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def finite(value: Any) -> Any:
    """A copy of ``value`` with non-finite floats replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def unresolved_devices(value: Any, where: str = "") -> list[str]:
    """Paths of every ``"device": "auto"`` in ``value``."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "device" and item == "auto":
                found.append(path)
            found += unresolved_devices(item, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += unresolved_devices(item, f"{where}[{i}]")
    return found


def dumps_result(result: dict) -> str:
    bad = unresolved_devices(result)
    if bad:
        raise ValueError(f"bench result records an unresolved device 'auto' at {', '.join(bad)}")
    return json.dumps(finite(result), indent=1, allow_nan=False)


def write_result(path: Path, result: dict) -> None:
    Path(path).write_text(dumps_result(result))
