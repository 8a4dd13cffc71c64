"""Start and stop a real Triton server for the tests: ``run_pipeline.py serve`` (PyTriton) or the bare binary.

PyTriton's bundled server runs only under Debian's python (README); .ci/test.sh
builds <repo>/.venv-triton for it, $STREAMDET_TRITON_PYTHON overrides the path.
Tests skip with the reason when it is absent.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engines.triton_serve import triton_python
from pipeline.bench.serve_process import ServeProcess as _ServeProcess, free_ports  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
NO_TRITON = ("no Triton interpreter: build it with `/usr/bin/python3 -m venv .venv-triton && .venv-triton/bin/pip "
             "install -c .ci/constraints-triton.txt -r .ci/requirements-triton.txt` (.ci/test.sh does) or set "
             "STREAMDET_TRITON_PYTHON")


def require_triton() -> Path:
    python = triton_python()
    if python is None:
        pytest.skip(NO_TRITON)
    pytest.importorskip("tritonclient.grpc")
    return python


def tritonserver_binary() -> tuple[Path, Path]:
    """(tritonserver, backend directory) bundled with pytriton in the Triton venv."""
    python = require_triton()
    found = subprocess.run([str(python), "-c", "import pytriton, os; print(os.path.dirname(pytriton.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    root = Path(found) / "tritonserver"
    return root / "bin" / "tritonserver", root / "backends"


class ServeProcess(_ServeProcess):
    """The bench's serve process, skipping the test when there is no Triton interpreter."""

    def __init__(self, *extra: str, ports: list[int] | None = None, log: Path) -> None:
        require_triton()
        super().__init__(*extra, ports=ports, log=log)
