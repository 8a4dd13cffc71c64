#!/usr/bin/env bash
# The README's test command: install what is needed into .venv and run every test; then check that
# the core install (no torch) runs the embedded default end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c .ci/constraints.txt -e '.[all]'
.venv/bin/python -m pytest "$@"
bash .ci/core_check.sh
