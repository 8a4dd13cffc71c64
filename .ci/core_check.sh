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
# The default is live (newest frame wins): on a loaded machine a few of the 30 captured frames may be
# skipped, but every one is either published or counted as dropped, and nothing fails.
assert summary["stop_reason"] == "end of stream" and summary["complete"], summary
assert summary["frames"] > 0 and summary["frames"] + summary["dropped"] == 30, summary
assert summary["failed"] == summary["malformed"] == summary["restarts"] == 0, summary
print("core install check: the default ran without torch,", summary["frames"], "frames published,",
      summary["dropped"], "skipped by the newest-frame policy")
PY
