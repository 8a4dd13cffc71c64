"""JSON Lines file of public detection messages, one per frame."""
from __future__ import annotations

import json
from pathlib import Path


class JsonlWriter:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", buffering=1 << 16)

    def write(self, message: dict, frame=None) -> None:
        self._file.write(json.dumps(message, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()
