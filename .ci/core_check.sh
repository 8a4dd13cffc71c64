#!/usr/bin/env bash
# `pip install .` without extras: torch is not installed, and the embedded default runs end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python3 -m venv .venv-core
.venv-core/bin/pip install -q --upgrade pip
.venv-core/bin/pip install -q -c .ci/constraints.txt .
if .venv-core/bin/python -c "import torch" 2>/dev/null; then
  echo "core install check: torch is installed in the core venv" >&2; exit 1
fi
(cd /tmp && "$repo/.venv-core/bin/streamdet" run --max-frames 30 --no-status --summary /tmp/streamdet-core-check.json)
"$repo/.venv-core/bin/python" - <<'PY'
import json
summary = json.load(open("/tmp/streamdet-core-check.json"))
assert summary["frames"] == 30, summary
print("core install check: the default ran without torch,", summary["frames"], "frames")
PY
