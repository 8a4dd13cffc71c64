#!/usr/bin/env bash
# The README's test command: install what is needed into .venv and run every test; then check that
# the core install (no torch) runs the embedded default end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c .ci/constraints.txt -e '.[all]'
# The Triton interpreter for `serve` and its tests: PyTriton's bundled server runs only under Debian's python
# 3.11 (README, "Triton"); the tests find it at .venv-triton/bin/python (or $STREAMDET_TRITON_PYTHON).
/usr/bin/python3 -m venv .venv-triton
.venv-triton/bin/pip install -q -c .ci/constraints-triton.txt -r .ci/requirements-triton.txt
.venv/bin/python -m pytest "$@"
bash .ci/core_check.sh
