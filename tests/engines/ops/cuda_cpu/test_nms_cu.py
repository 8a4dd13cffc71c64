"""cuda/nms.cu run on the CPU (cuda_shim.h) through nms_cupy's own host code: keep lists equal
to the NumPy twin and torchvision.ops.nms on thousands of random cases."""
import numpy as np
import pytest
import torch
import torchvision

from engines.ops import nms as nms_numpy
from engines.ops import nms_cupy
from engines.ops.nms import PER_CLASS_ABOVE
from tests.engines.ops.cases import random_case
from tests.engines.ops.cuda_cpu.conftest import install_cpu_cupy

pytestmark = pytest.mark.cuda_cpu
torch.set_num_threads(1)
CASES = 1000


def sizes(rng, cases):
    """Mostly small (0..200, so every tile shape and n % 64 shows up), some above 1000 boxes."""
    for case in range(cases):
        if case % 200 == 3:
            yield int(rng.integers(PER_CLASS_ABOVE + 1, 1500))   # the same-class kernel path
        elif case % 10 == 0:
            yield int(rng.choice([0, 1, 63, 64, 65, 127, 128, 129]))
        else:
            yield int(rng.integers(0, 200))


def test_random_cases_equal_numpy_and_torchvision(cpu_cupy):
    rng = np.random.default_rng(151)
    for n in sizes(rng, CASES):
        boxes, scores, class_ids = random_case(rng, n)
        threshold = float(rng.choice([0.3, 0.45, 0.5, 0.6, 0.7]))
        device = [cpu_cupy.asarray(a) for a in (boxes, scores, class_ids)]
        expected = nms_numpy.nms(boxes, scores, threshold)
        np.testing.assert_array_equal(np.asarray(nms_cupy.nms(*device[:2], threshold)), expected)
        np.testing.assert_array_equal(expected, torchvision.ops.nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy())
        expected = nms_numpy.batched_nms(boxes, scores, class_ids, threshold)
        np.testing.assert_array_equal(np.asarray(nms_cupy.batched_nms(*device, threshold)), expected)
        theirs = torchvision.ops.batched_nms(   # above 4000 numbers: per class, ties unordered
            *(torch.from_numpy(a) for a in (boxes, scores, class_ids)), threshold).numpy()
        np.testing.assert_array_equal(np.sort(expected), np.sort(theirs))


def test_mask_needs_no_zeroing(monkeypatch, cpu_modules):
    """nms_iou_mask writes every word nms_greedy_scan reads (row i, words >= i / 64): a mask
    full of garbage gives the same answers, which is why nms_cupy can use cupy.empty."""
    cupy = install_cpu_cupy(monkeypatch, cpu_modules, garbage_zeros=True, seed=5)
    rng = np.random.default_rng(152)
    for n in sizes(rng, 300):
        boxes, scores, class_ids = random_case(rng, n)
        device = [cupy.asarray(a) for a in (boxes, scores, class_ids)]
        np.testing.assert_array_equal(np.asarray(nms_cupy.batched_nms(*device, 0.5)),
                                      nms_numpy.batched_nms(boxes, scores, class_ids, 0.5))


def test_scan_gets_the_shared_memory_it_needs(cpu_cupy, cpu_modules):
    """The greedy scan's bitset is tiles * 8 bytes of dynamic shared memory; MAX_BOXES is the
    most that fits the 48 KiB a launch may ask for without opting in."""
    assert (nms_cupy.MAX_BOXES + nms_cupy.TILE - 1) // nms_cupy.TILE * 8 == 48 * 1024
    with pytest.raises(ValueError, match="at most"):
        nms_cupy.nms(cpu_cupy.zeros((nms_cupy.MAX_BOXES + 1, 4), np.float32),
                     cpu_cupy.zeros(nms_cupy.MAX_BOXES + 1, np.float32), 0.5)
