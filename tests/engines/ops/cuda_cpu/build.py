"""Compile engines/ops/cuda/*.cu unchanged as C++ (g++ + cuda_shim.h) into a .so and load it.

Not a test module. ``build(source_text, kernels, out_dir)`` writes a small wrapper that
includes cuda_shim.h and then the .cu text, defines any ``extern __shared__`` array the
source declares (CUDA_SHIM_DYNAMIC_SHARED bytes), exports one launcher per kernel, and
compiles it with g++ (-ffp-contract=off: no FMA contraction, IEEE float like the _rn
intrinsics). ``CpuModule`` wraps the .so with the ``get_function`` of cupy.RawModule.
"""
from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from tests.engines.ops.cuda_cpu.launch import CpuKernel

SHIM = Path(__file__).with_name("cuda_shim.h")
DYNAMIC_SHARED_BYTES = 48 * 1024
EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+((?:\w+\s+)*?\w+)\s+(\w+)\s*\[\s*\]\s*;")
FLAGS = ["-std=c++20", "-O2", "-g0", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math",
         "-fvisibility=hidden", "-fno-gnu-unique", "-Wall", "-Wno-unused-variable"]


def compiler() -> str | None:
    return shutil.which("g++")


def wrapper_source(cu_text: str, kernels: tuple[str, ...]) -> str:
    """The C++ translation unit: shim, the .cu text verbatim, dynamic shared arrays, exports."""
    dynamic = EXTERN_SHARED.findall(cu_text)
    lines = [f"#define CUDA_SHIM_DYNAMIC_SHARED {DYNAMIC_SHARED_BYTES}", f'#include "{SHIM}"',
             '#line 1 "kernel.cu"', cu_text, '#line 1 "exports"']
    arrays = {name: t for t, name in dynamic}
    if len(arrays) > 1:   # they would alias one buffer on a GPU; the shim has one region
        raise ValueError(f"more than one extern __shared__ array: {sorted(arrays)}")
    lines += [f"CUDA_SHIM_DYNAMIC_SHARED_ARRAY({t}, {name})" for name, t in arrays.items()]
    lines += [f"CUDA_SHIM_EXPORT({name})" for name in kernels]
    return "\n".join(lines) + "\n"


def build(cu_text: str, kernels: tuple[str, ...], out_dir: Path, defines: tuple[str, ...] = ()) -> Path:
    """Compile once per distinct source (and -D defines) into out_dir; returns the .so path."""
    source = wrapper_source(cu_text, kernels)
    flags = FLAGS + [f"-D{d}" for d in defines]
    digest = hashlib.sha256(source.encode() + SHIM.read_bytes() + str(flags).encode()).hexdigest()[:16]
    library = out_dir / f"kernels_{digest}.so"
    if library.exists():
        return library
    cpp = out_dir / f"kernels_{digest}.cpp"
    cpp.write_text(source)
    done = subprocess.run([compiler(), *flags, str(cpp), "-o", str(library), "-ldl"],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"g++ failed on {cpp}:\n{done.stderr}")
    return library


class CpuModule:
    """The cupy.RawModule face of a compiled .so: get_function(name) -> CpuKernel."""

    def __init__(self, library: Path, kernels: tuple[str, ...]):
        self.library = ctypes.CDLL(str(library))
        self.kernels = kernels

    def get_function(self, name: str) -> CpuKernel:
        if name not in self.kernels:
            raise KeyError(f"no kernel {name!r} in this module")
        return CpuKernel(self.library, name)
