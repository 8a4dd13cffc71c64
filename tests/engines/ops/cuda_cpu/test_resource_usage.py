"""ptxas resource usage of every kernel (nvcc -cubin --resource-usage) for sm_80 (A100) and
sm_90 (H100/H200), against the launch configuration the CuPy twins use: registers per thread
and per block, static + dynamic shared memory per block, and no register spills.
Skipped when nvcc is not installed (.ci/run does not install it)."""
import math
import re
import subprocess

import pytest

from engines.ops import centernet_decode_cupy, letterbox_cupy, nms_cupy, yolo_decode_cupy
from engines.ops.cuda_kernels import CUDA_DIR, KERNELS
from tests.engines.ops.test_cuda_kernels import find_nvcc

MAX_REGISTERS_PER_THREAD = 255
REGISTERS_PER_BLOCK = 64 * 1024          # sm_80 and sm_90
SHARED_PER_BLOCK = 48 * 1024             # without cudaFuncAttributeMaxDynamicSharedMemorySize
# kernel -> (threads per block, largest dynamic shared memory a launch asks for)
LAUNCH = {
    "nms_iou_mask": (nms_cupy.TILE, 0),
    "nms_greedy_scan": (nms_cupy.SCAN_THREADS, math.ceil(nms_cupy.MAX_BOXES / nms_cupy.TILE) * 8),
    "yolo_v8_best_class": (yolo_decode_cupy.THREADS, 0),
    "yolo_v5_best_class": (yolo_decode_cupy.THREADS, 0),
    "centernet_peaks": (centernet_decode_cupy.THREADS, 0),
    "letterbox_bilinear": (math.prod(letterbox_cupy.BLOCK), 0),
}
ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'(.*?)(?=Compiling entry|\Z)", re.S)


def resource_usage(nvcc, source, arch, tmp_path):
    done = subprocess.run([nvcc, "-cubin", f"-arch={arch}", "--resource-usage", str(CUDA_DIR / source),
                           "-o", str(tmp_path / "out.cubin")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    usage = {}
    for name, _, text in ENTRY.findall(done.stdout + done.stderr):
        def number(pattern, text=text):
            found = re.search(pattern, text)
            return int(found.group(1)) if found else 0
        usage[name] = {"registers": number(r"Used (\d+) registers"), "smem": number(r"(\d+) bytes smem"),
                       "spill": number(r"(\d+) bytes spill stores") + number(r"(\d+) bytes spill loads"),
                       "stack": number(r"(\d+) bytes stack frame")}
    return usage


def test_every_launched_kernel_has_a_launch_configuration():
    assert set(LAUNCH) == {name for names in KERNELS.values() for name in names}


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", sorted(KERNELS))
def test_resources_fit_the_launch_configuration(source, arch, tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH, /usr/local/bin or /usr/local/cuda*/bin")
    usage = resource_usage(nvcc, source, arch, tmp_path)
    assert set(usage) >= set(KERNELS[source]), usage
    for name in KERNELS[source]:
        threads, dynamic_smem = LAUNCH[name]
        used = usage[name]
        allocated = math.ceil(used["registers"] / 8) * 8     # registers are allocated in 8s
        assert 0 < used["registers"] <= MAX_REGISTERS_PER_THREAD, (name, used)
        assert allocated * threads <= REGISTERS_PER_BLOCK, (name, used, threads)
        assert used["smem"] + dynamic_smem <= SHARED_PER_BLOCK, (name, used, dynamic_smem)
        assert used["spill"] == 0 and used["stack"] == 0, (name, used)
