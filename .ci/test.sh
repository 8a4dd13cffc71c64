#!/usr/bin/env bash
# The README's test command: install what is needed into .venv and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c .ci/constraints.txt -e '.[test]'
.venv/bin/python -m pytest "$@"
