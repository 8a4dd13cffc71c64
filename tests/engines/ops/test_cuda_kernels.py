"""Every CUDA source compiles to PTX for sm_80 and defines every kernel Python launches.

Two compilers: nvcc (as the brief asks) and NVRTC, which is what CuPy's RawModule
uses at run time, with no headers included, so a source that only nvcc accepts
would still fail here.
"""
import ctypes
import re
import sys
import shutil
import subprocess
from pathlib import Path

import pytest

from engines.ops.cuda_kernels import CUDA_DIR, KERNELS, kernel

SOURCES = sorted(p.name for p in CUDA_DIR.glob("*.cu"))


def find_nvcc():
    for candidate in (shutil.which("nvcc"), "/usr/local/bin/nvcc", "/usr/local/cuda/bin/nvcc"):
        if candidate and Path(candidate).is_file():
            return candidate
    found = sorted(Path("/usr/local").glob("cuda*/bin/nvcc"))
    return str(found[-1]) if found else None


def test_registry_and_sources_list_the_same_files():
    assert SOURCES and set(SOURCES) == set(KERNELS)


@pytest.mark.parametrize("source", SOURCES)
def test_source_compiles_to_ptx_with_every_launched_kernel(source, tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH, /usr/local/bin or /usr/local/cuda*/bin")
    ptx = tmp_path / "tmp.ptx"
    done = subprocess.run([nvcc, "--ptx", "-arch=sm_80", str(CUDA_DIR / source), "-o", str(ptx)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entries = set(re.findall(r"\.entry\s+([A-Za-z_]\w*)\s*\(", ptx.read_text()))
    missing = set(KERNELS[source]) - entries
    assert not missing, f"{source}: kernels launched from Python but not in the PTX: {missing}"


def find_nvrtc():
    """libnvrtc from the nvidia-cuda-nvrtc wheel that torch installs (None when absent)."""
    for site in map(Path, sys.path):
        for lib_dir in sorted(site.glob("nvidia/*/lib")) + sorted(site.glob("nvidia/cuda_nvrtc/lib")):
            libs = sorted(lib_dir.glob("libnvrtc.so*"))
            builtins = sorted(lib_dir.glob("libnvrtc-builtins.so*"))
            if libs and builtins:
                ctypes.CDLL(str(builtins[0]), mode=ctypes.RTLD_GLOBAL)
                return ctypes.CDLL(str(libs[0]))
    return None


@pytest.mark.parametrize("source", SOURCES)
def test_source_compiles_with_nvrtc_like_cupy(source):
    nvrtc = find_nvrtc()
    if nvrtc is None:
        pytest.skip("libnvrtc (pip package nvidia-cuda-nvrtc) not found")
    program = ctypes.c_void_p()
    code = (CUDA_DIR / source).read_bytes()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(program), code, source.encode(), 0, None, None) == 0
    options = (ctypes.c_char_p * 1)(b"--gpu-architecture=compute_80")
    status = nvrtc.nvrtcCompileProgram(program, 1, options)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(program, log)
    nvrtc.nvrtcDestroyProgram(ctypes.byref(program))
    assert status == 0, log.value.decode()


def test_unknown_kernel_names_are_refused_before_cupy_is_needed():
    with pytest.raises(ValueError, match="is not a kernel of 'nms.cu'"):
        kernel("nms.cu", "nms_kernel_that_does_not_exist")
