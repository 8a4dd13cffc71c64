import numpy as np
import pytest

from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy
from pipeline import config
from pipeline.stages.gpu_preprocess import FramePreprocessor, gpu_preprocess_wanted

SPEC = PreprocessSpec(320, 320)


def frames(n=2):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(n)]


def test_cpu_path_equals_the_preprocess_stage():
    batch = FramePreprocessor(SPEC, "cpu")(frames())
    assert batch.shape == (2, 3, 320, 320)
    np.testing.assert_array_equal(batch[1], letterbox_numpy(frames()[1], SPEC)[0])


@pytest.mark.parametrize("choice, device, expected", [("gpu", "auto", True), ("cpu", "cuda:0", False),
                                                      ("auto", "cpu", False)])
def test_choice(choice, device, expected):
    cfg = config.override(config.load(None), {"engine.preprocess_on": choice, "engine.device": device})
    assert gpu_preprocess_wanted(cfg["engine"]) is expected


@pytest.mark.gpu
def test_gpu_path_matches_cpu_within_one_grey_level():
    got = FramePreprocessor(SPEC, "cuda:0")(frames()).cpu().numpy()
    want = FramePreprocessor(SPEC, "cpu")(frames())
    assert got.shape == want.shape and np.abs(got - want).max() <= 1.01 / 255
