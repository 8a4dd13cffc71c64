"""float32_cut draws the line exactly at the real threshold; logit inverts sigmoid."""
import math

import numpy as np
import pytest

from engines.ops.thresholds import float32_cut, logit


@pytest.mark.parametrize("threshold", [0.6, 0.45, 0.25, 0.1, 0.7, 1e-8, -0.3, 3.0])
def test_cut_separates_float32_values_like_a_double_comparison(threshold):
    cut = float32_cut(threshold)
    assert cut.dtype == np.float32 and float(cut) <= threshold
    around = np.float32(threshold)
    values = np.array([np.nextafter(around, np.float32(-np.inf)), around,
                       np.nextafter(around, np.float32(np.inf))], dtype=np.float32)
    np.testing.assert_array_equal(values > cut, values.astype(np.float64) > threshold)


def test_cut_of_float32_rounding_up():
    assert float(np.float32(0.6)) > 0.6               # the case that needs the cut
    assert float32_cut(0.6) == np.nextafter(np.float32(0.6), np.float32(0))


def test_cut_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        float32_cut(float("nan"))


def test_logit_inverts_sigmoid():
    for p in (0.1, 0.25, 0.5, 0.9):
        assert 1 / (1 + math.exp(-logit(p))) == pytest.approx(p, rel=1e-12)
    assert logit(0.0) == -math.inf and logit(1.0) == math.inf
