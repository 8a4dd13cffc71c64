"""NumPy centernet_decode: hand-built heatmaps with known boxes, and agreement with the torch twin."""
import numpy as np
import pytest
import torch

from engines.ops.centernet_decode import centernet_decode
from engines.ops.torch_ops import centernet_decode_torch
from tests.engines.ops.cases import random_centernet_heads

torch.set_num_threads(1)


def sigmoid(x):
    return np.float32(1 / (1 + np.exp(-np.float64(x))))


def heads():
    """2 classes on an 8x8 map. Peaks, by logit: class 0 at (y=6, x=1) 3.0, class 0 at (2, 3) 2.0
    (its neighbour (2, 4) at 1.0 is no peak), a class-1 plateau (5, 5) = (5, 6) = 1.5 (both
    kept), class 1 in the corner (0, 0) 0.5, and (7, 7) at -2.5 (sigmoid 0.076 < 0.1)."""
    hm = np.full((2, 8, 8), -10, np.float32)
    for c, y, x, v in [(0, 6, 1, 3.0), (0, 2, 3, 2.0), (0, 2, 4, 1.0), (1, 5, 5, 1.5),
                       (1, 5, 6, 1.5), (1, 0, 0, 0.5), (1, 7, 7, -2.5)]:
        hm[c, y, x] = v
    wh = np.zeros((2, 8, 8), np.float32)
    reg = np.zeros((2, 8, 8), np.float32)
    wh[:, 2, 3], reg[:, 2, 3] = (4, 6), (0.25, 0.5)
    wh[:, 5, 5], wh[:, 5, 6] = (2, 2), (8, 2)
    wh[:, 0, 0], reg[:, 0, 0] = (1, 1), (0.5, 0.5)
    wh[:, 6, 1] = (2, 4)
    return hm, wh, reg


EXPECTED_BOXES = np.array([
    [0, 16, 8, 32],          # (6, 1): centre (1, 6), size 2x4, times 4
    [5, -2, 21, 22],         # (2, 3): centre (3.25, 2.5), size 4x6
    [16, 16, 24, 24],        # (5, 5): centre (5, 5), size 2x2
    [8, 16, 40, 24],         # (5, 6): centre (6, 5), size 8x2
    [0, 0, 4, 4],            # (0, 0): centre (0.5, 0.5), size 1x1
], np.float32)


def test_known_peaks_plateau_and_adjacent_pixels():
    xyxy, score, class_id = centernet_decode(*heads(), k=100, down_ratio=4, score_threshold=0.1)
    assert (xyxy.dtype, score.dtype, class_id.dtype) == (np.float32, np.float32, np.int32)
    np.testing.assert_array_equal(xyxy, EXPECTED_BOXES)
    np.testing.assert_array_equal(class_id, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(score, [sigmoid(v) for v in (3.0, 2.0, 1.5, 1.5, 0.5)], rtol=1e-6)


def test_k_and_threshold_limit_the_output():
    xyxy, score, _ = centernet_decode(*heads(), k=2)
    np.testing.assert_array_equal(xyxy, EXPECTED_BOXES[:2])
    _, score, _ = centernet_decode(*heads(), score_threshold=0.85)  # logit 1.73: keeps 3.0 and 2.0
    assert len(score) == 2
    _, score, _ = centernet_decode(*heads(), score_threshold=0.05)  # now (7, 7) counts too
    assert len(score) == 6 and score[-1] == pytest.approx(sigmoid(-2.5), rel=1e-6)


def test_empty_when_nothing_passes():
    hm, wh, reg = heads()
    xyxy, score, class_id = centernet_decode(hm - 50, wh, reg)
    assert xyxy.shape == (0, 4) and score.shape == (0,) and class_id.shape == (0,)


def test_shapes_are_checked():
    hm, wh, reg = heads()
    with pytest.raises(ValueError, match=r"reg must be \(2, 8, 8\)"):
        centernet_decode(hm, wh, reg[:, :4])
    with pytest.raises(ValueError, match=r"hm must be \(C, H, W\)"):
        centernet_decode(hm[0], wh, reg)
    out = centernet_decode(hm[None], wh[None], reg[None])     # batch axis of one
    np.testing.assert_array_equal(out[0], EXPECTED_BOXES)


@pytest.mark.parametrize("integer_logits", [True, False])
def test_matches_torch_twin(integer_logits):
    rng = np.random.default_rng(5)
    for _ in range(40):
        classes, height, width = (int(v) for v in rng.integers(1, [6, 40, 40], endpoint=True))
        hm, wh, reg = random_centernet_heads(rng, classes, height, width, integer_logits)
        options = dict(k=int(rng.integers(1, 120)), down_ratio=int(rng.choice([1, 4, 8])),
                       score_threshold=float(rng.choice([0.05, 0.1, 0.3])))
        ours = centernet_decode(hm, wh, reg, **options)
        theirs = [t.numpy() for t in centernet_decode_torch(
            *(torch.from_numpy(a) for a in (hm, wh, reg)), **options)]
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[2], theirs[2])
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-7)
