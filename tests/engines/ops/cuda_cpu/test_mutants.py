"""The cuda_cpu checks catch real kernel bugs: each test plants one plausible bug in a copy of an
engines/ops/cuda/*.cu file (a missing barrier, an output that relies on zeroed memory, an
off-by-one bound), builds it like the real one, and shows the parity check now fails."""
import numpy as np
import pytest

from engines.core.spec import PreprocessSpec
from engines.ops import centernet_decode_cupy, nms, nms_cupy, yolo_decode_cupy
from engines.ops.centernet_decode import centernet_decode
from engines.ops.cuda_kernels import CUDA_DIR, KERNELS
from engines.ops.letterbox import letterbox_torch
from engines.ops.letterbox_cupy import letterbox_cupy
from engines.ops.yolo_decode import yolo_decode
from tests.engines.ops.cases import random_case, random_centernet_heads, random_yolo_pred
from tests.engines.ops.cuda_cpu.build import CpuModule, build
from tests.engines.ops.cuda_cpu.conftest import install_cpu_cupy
from tests.engines.ops.cuda_cpu.launch import ShimLaunchError

pytestmark = [pytest.mark.cuda_cpu, pytest.mark.slow]


def nms_agrees(cupy, cases=60):
    rng = np.random.default_rng(3)
    for _ in range(cases):
        boxes, scores, class_ids = random_case(rng, int(rng.integers(1, 300)))
        ours = nms_cupy.batched_nms(*(cupy.asarray(a) for a in (boxes, scores, class_ids)), 0.5)
        if not np.array_equal(np.asarray(ours), nms.batched_nms(boxes, scores, class_ids, 0.5)):
            return False
    return True


def yolo_agrees(cupy, cases=60):
    rng = np.random.default_rng(4)
    for _ in range(cases):
        pred = random_yolo_pred(rng, "v8", int(rng.integers(1, 300)), int(rng.integers(2, 20)))
        ours = yolo_decode_cupy.yolo_decode(cupy.asarray(pred), layout="v8", conf_threshold=0.05)
        if not np.array_equal(np.asarray(ours[2]), yolo_decode(pred, layout="v8", conf_threshold=0.05)[2]):
            return False
    return True


def centernet_agrees(cupy, cases=60):
    rng = np.random.default_rng(5)
    for _ in range(cases):
        heads = random_centernet_heads(rng, 3, *(int(v) for v in rng.integers(1, 20, 2)))
        ours = centernet_decode_cupy.centernet_decode(*(cupy.asarray(h) for h in heads))
        if not np.array_equal(np.asarray(ours[0]), centernet_decode(*heads)[0]):
            return False
    return True


def letterbox_agrees(cupy, cases=30):
    import torch
    rng = np.random.default_rng(6)
    for _ in range(cases):
        spec = PreprocessSpec(*(int(v) for v in rng.integers(1, 70, 2)))
        frame = rng.integers(0, 256, tuple(int(v) for v in rng.integers(1, 90, 2)) + (3,), dtype=np.uint8)
        ours, _ = letterbox_cupy(cupy.asarray(frame), spec)
        if not np.allclose(np.asarray(ours), letterbox_torch(torch.from_numpy(frame), spec)[0].numpy(),
                           atol=2e-5, rtol=0):
            return False
    return True


MUTANTS = {
    "nms: no barrier after loading the column tile": (
        "nms.cu", "    __syncthreads();\n\n    const int row", "\n    const int row", nms_agrees),
    "nms: no barrier at the end of a greedy step": (
        "nms.cu", "        __syncthreads();\n    }\n}", "    }\n}", nms_agrees),
    "nms: only non-zero mask words written (relies on a zeroed mask)": (
        "nms.cu", "    mask[(long long)row", "    if (bits) mask[(long long)row", nms_agrees),
    "yolo: last class never looked at": (
        "yolo.cu", "for (int c = 1; c < classes; ++c) {\n        const float v = scores",
        "for (int c = 1; c < classes - 1; ++c) {\n        const float v = scores", yolo_agrees),
    "centernet: only peaks written (relies on a zeroed output)": (
        "centernet.cu", "is_peak[idx] = peak ? 1 : 0;", "if (peak) is_peak[idx] = 1;", centernet_agrees),
    "letterbox: off-by-one column bound": (
        "letterbox.cu", "if (ox >= out_w ||", "if (ox > out_w ||", letterbox_agrees),
}


def mutant_modules(cpu_modules, build_dir, source, old, new):
    text = (CUDA_DIR / source).read_text()
    assert text.count(old) == 1, f"{source} changed: update this mutant"
    modules = dict(cpu_modules)
    modules[source] = CpuModule(build(text.replace(old, new), KERNELS[source], build_dir), KERNELS[source])
    return modules


@pytest.mark.parametrize("name", list(MUTANTS))
def test_planted_bug_is_caught(name, monkeypatch, cpu_modules, shim_build_dir):
    source, old, new, agrees = MUTANTS[name]
    assert agrees(install_cpu_cupy(monkeypatch, cpu_modules, seed=1))     # the real kernel passes
    cupy = install_cpu_cupy(monkeypatch, mutant_modules(cpu_modules, shim_build_dir, source, old, new))
    try:
        caught = not agrees(cupy)
    except ShimLaunchError:
        caught = True
    assert caught, f"mutant not caught: {name}"


def test_zeroing_hazard_only_shows_with_garbage_buffers(monkeypatch, cpu_modules, shim_build_dir):
    """The issue's hazard: a mask kernel that relies on zeroed memory passes whenever the buffer
    happens to be zero (as the old NumPy emulation's was), and fails on device-like garbage."""
    source, old, new, _ = MUTANTS["nms: only non-zero mask words written (relies on a zeroed mask)"]
    modules = mutant_modules(cpu_modules, shim_build_dir, source, old, new)
    cupy = install_cpu_cupy(monkeypatch, modules)
    monkeypatch.setattr(cupy, "empty", cupy.zeros)        # every buffer zeroed: bug hidden
    assert nms_agrees(cupy)
    assert not nms_agrees(install_cpu_cupy(monkeypatch, modules, seed=2))
