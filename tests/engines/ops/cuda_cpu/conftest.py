"""Fixtures of the cuda_cpu tests: every engines/ops/cuda/*.cu built once per session with
g++ through cuda_shim.h, and a NumPy stand-in for CuPy whose kernels are those builds, so
the CuPy twins' host code runs the real kernel bodies."""
import sys

import numpy as np
import pytest

from engines.ops import cuda_kernels
from engines.ops.cuda_kernels import CUDA_DIR, KERNELS
from tests.engines.ops.cuda_cpu.build import CpuModule, build, compiler
from tests.engines.ops.cuda_cpu.guarded_cupy import make_guarded_cupy
from tests.engines.ops.cuda_cpu.launch import set_seed


@pytest.fixture(scope="session")
def shim_build_dir(tmp_path_factory):
    if compiler() is None:
        pytest.skip("g++ not found: the cuda_cpu tests compile the kernels with it")
    return tmp_path_factory.mktemp("cuda_cpu")


@pytest.fixture(scope="session")
def cpu_modules(shim_build_dir):
    """source file name -> CpuModule of the unchanged engines/ops/cuda/<source>."""
    return {source: CpuModule(build((CUDA_DIR / source).read_text(), names, shim_build_dir), names)
            for source, names in KERNELS.items()}


def install_cpu_cupy(monkeypatch, modules, garbage_zeros=False, seed=0):
    """sys.modules['cupy'] = the guarded stand-in, engines.ops.cuda_kernels -> the CPU builds."""
    set_seed(seed * 1_000_003 + 1)
    fake = make_guarded_cupy(np.random.default_rng(seed), garbage_zeros)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda_kernels, "_module", lambda source: modules[source])
    return fake


@pytest.fixture
def cpu_cupy(monkeypatch, cpu_modules):
    return install_cpu_cupy(monkeypatch, cpu_modules)
