"""CenterNet targets and loss: CornerNet radius, Gaussian splat, focal loss by hand, L1 terms."""
import math

import numpy as np
import pytest
import torch

from engines.training.centernet_loss import centernet_loss, focal_loss
from engines.training.centernet_targets import build_targets, draw_gaussian, gaussian_radius


def test_gaussian_radius_follows_the_cornernet_rule():
    # 10x10 box, overlap 0.7: (20 + sqrt(400 - 4 * 30 / 1.7)) / 2 = 19.07,
    # (40 + sqrt(1600 - 16 * 30)) / 2 = 36.73, (-28 + sqrt(784 + 4 * 2.8 * 30)) / 2 = 2.733
    assert gaussian_radius(10, 10) == pytest.approx(2.7332, abs=1e-3)
    assert gaussian_radius(40, 20) > gaussian_radius(10, 10)


def test_splat_peaks_at_one_on_the_centre_and_keeps_the_maximum():
    heatmap = np.zeros((9, 9), np.float32)
    draw_gaussian(heatmap, (4, 4), 2)
    assert heatmap[4, 4] == 1.0 and heatmap.max() == 1.0
    sigma = 5 / 6
    assert heatmap[4, 5] == pytest.approx(math.exp(-1 / (2 * sigma ** 2)), rel=1e-5)
    assert heatmap[4, 7] == 0.0                       # outside the radius
    draw_gaussian(heatmap, (0, 0), 3)                 # clipped at the border, max kept
    assert heatmap[0, 0] == 1.0 and heatmap[4, 4] == 1.0


def test_targets_place_size_and_offset_at_the_centre_cell():
    t = build_targets([np.array([[8, 16, 40, 32]], np.float32)], [np.array([2])], 3, 16, 16)
    # output-cell box (2, 4, 10, 8): centre (6, 6), size (8, 4)
    assert t.heatmap[0, 2, 6, 6] == 1.0 and t.heatmap[0, :2].sum() == 0
    assert int(t.index[0, 0]) == 6 * 16 + 6 and t.mask[0].sum() == 1
    assert torch.allclose(t.size[0, 0], torch.tensor([8.0, 4.0]))
    assert torch.allclose(t.offset[0, 0], torch.tensor([0.0, 0.0]))


def test_focal_loss_matches_a_hand_computed_case():
    gt = torch.tensor([[[[1.0, 0.5]]]])
    p = torch.tensor([0.8, 0.3])
    logits = torch.log(p / (1 - p)).view(1, 1, 1, 2)
    positive = (1 - 0.8) ** 2 * math.log(0.8)
    negative = (1 - 0.5) ** 4 * 0.3 ** 2 * math.log(1 - 0.3)
    expected = -(positive + negative) / 1
    assert float(focal_loss(logits, gt)) == pytest.approx(expected, rel=1e-5)


def _perfect_outputs(targets, num_classes):
    hm = torch.where(targets.heatmap == 1, torch.tensor(30.0), torch.tensor(-30.0))
    b, _, h, w = hm.shape
    wh, reg = torch.zeros(b, 2, h * w), torch.zeros(b, 2, h * w)
    for i in range(b):
        for k in torch.nonzero(targets.mask[i]).flatten():
            wh[i, :, targets.index[i, k]] = targets.size[i, k]
            reg[i, :, targets.index[i, k]] = targets.offset[i, k]
    return hm, wh.view(b, 2, h, w), reg.view(b, 2, h, w)


def test_loss_is_near_zero_for_a_perfect_prediction_and_positive_otherwise():
    boxes = [np.array([[8, 8, 40, 30], [50, 10, 60, 60]], np.float32)]
    targets = build_targets(boxes, [np.array([0, 1])], 2, 16, 16)
    perfect = _perfect_outputs(targets, 2)
    loss, parts = centernet_loss(perfect, targets)
    assert float(loss) < 0.05 and parts["wh"] == pytest.approx(0, abs=1e-6)
    wrong = (torch.zeros_like(perfect[0]), perfect[1] + 1, perfect[2] - 0.5)
    bad_loss, bad_parts = centernet_loss(wrong, targets)
    assert float(bad_loss) > 1.0
    assert bad_parts["wh"] == pytest.approx(1.0, abs=1e-3)
    assert bad_parts["off"] == pytest.approx(0.5, abs=1e-3)
