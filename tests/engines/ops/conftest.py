"""The ``cupy`` fixture: each CuPy-twin test runs twice, on a NumPy emulation of CuPy
(always, see fake_cupy.py) and on the real CuPy (``gpu`` marker, skipped without CUDA)."""
import sys

import pytest

from engines.ops import cuda_kernels
from tests.engines.ops.fake_cupy import make_fake_cupy


@pytest.fixture(params=["emulated", pytest.param("cuda", marks=pytest.mark.gpu)])
def cupy(request, monkeypatch):
    cuda_kernels._module.cache_clear()
    if request.param == "cuda":
        yield pytest.importorskip("cupy")
    else:
        fake = make_fake_cupy()
        fake.EMULATED = True
        monkeypatch.setitem(sys.modules, "cupy", fake)
        yield fake
    cuda_kernels._module.cache_clear()


@pytest.fixture
def cases(cupy):
    """How many random cases to run: thousands on a GPU, a few dozen in emulation."""
    return 30 if getattr(cupy, "EMULATED", False) else 2000
