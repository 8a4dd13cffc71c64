"""YOLO loss pieces: CIoU, DFL, task-aligned assignment, and the whole loss on good vs bad outputs."""
import math

import pytest
import torch

from engines.nets.yolo_head import grid_points
from engines.training.box_geometry import ciou_aligned, iou_aligned
from engines.training.yolo_assign import assign
from engines.training.yolo_loss import YoloTargets, dfl_loss, yolo_loss

torch.set_num_threads(1)


def test_iou_and_ciou():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert float(iou_aligned(a, a)) == pytest.approx(1.0, abs=1e-6)
    assert float(ciou_aligned(a, a)) == pytest.approx(1.0, abs=1e-6)
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0]])
    assert float(iou_aligned(a, b)) == pytest.approx(50 / 150, abs=1e-6)
    # same shape, centres 5 apart, enclosing box 15 x 10: penalty 25 / 325
    assert float(ciou_aligned(a, b)) == pytest.approx(50 / 150 - 25 / 325, abs=1e-5)


def test_dfl_is_zero_for_a_sharp_distribution_on_an_integer_target():
    logits = torch.full((1, 4, 16), -50.0)
    target = torch.tensor([[3.0, 0.0, 7.0, 14.0]])
    logits[0, torch.arange(4), target[0].long()] = 50.0
    assert float(dfl_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)
    # a target between two bins is split linearly: a 50/50 pair on bins 3 and 4 is optimal
    split = torch.full((1, 4, 16), -50.0)
    split[0, :, 3:5] = 0.0
    assert float(dfl_loss(split, torch.full((1, 4), 3.5))) == pytest.approx(math.log(2), abs=1e-5)


def test_assigner_picks_points_inside_the_box_with_the_box_label():
    points, _ = grid_points([(4, 4)], [8])
    points = points * 8                                    # pixel centres 4, 12, 20, 28
    boxes = torch.tensor([[[0.0, 0.0, 16.0, 16.0]]])
    pred_boxes = boxes.expand(1, 16, 4).clone()
    scores = torch.full((1, 16, 3), 0.5)
    found = assign(scores, pred_boxes, points, boxes, torch.tensor([[2]]), torch.tensor([[True]]))
    inside = (points[:, 0] < 16) & (points[:, 1] < 16)
    assert torch.equal(found.foreground[0], inside)
    assert torch.all(found.target_scores[0, inside, 2] > 0.99)
    assert float(found.target_scores[0, :, :2].sum()) == 0


def _encode_outputs(box, shapes, num_classes, label):
    """Raw outputs that predict ``box`` sharply at every point inside it, nothing elsewhere."""
    levels, strides = [], (8, 16, 32)
    for (h, w), stride in zip(shapes, strides):
        level = torch.full((1, 64 + num_classes, h, w), -20.0)
        points, _ = grid_points([(h, w)], [stride])
        for i, (px, py) in enumerate(points.tolist()):
            dist = [px - box[0] / stride, py - box[1] / stride,
                    box[2] / stride - px, box[3] / stride - py]
            if min(dist) <= 0:
                continue
            y, x = divmod(i, w)
            for side, d in enumerate(dist):
                lo = min(int(d), 14)
                frac = min(d, 14.99) - lo
                level[0, side * 16 + lo, y, x] = math.log(max(1 - frac, 1e-9)) + 20
                level[0, side * 16 + lo + 1, y, x] = math.log(max(frac, 1e-9)) + 20
            level[0, 64 + label, y, x] = 20.0
        levels.append(level)
    return levels


def test_loss_is_low_for_matching_outputs_and_high_otherwise():
    box = [16.0, 16.0, 48.0, 48.0]
    shapes = [(8, 8), (4, 4), (2, 2)]
    targets = YoloTargets(torch.tensor([[box]]), torch.tensor([[1]]), torch.tensor([[True]]))
    good, good_parts = yolo_loss(_encode_outputs(box, shapes, 3, 1), targets)
    bad, _ = yolo_loss(_encode_outputs([0.0, 0.0, 20.0, 60.0], shapes, 3, 2), targets)
    assert good_parts["box"] < 1e-3
    assert float(bad) > 5 * float(good) and float(bad) > 1.0


def test_loss_without_objects_only_pushes_classes_down():
    levels = [torch.zeros(2, 64 + 3, s, s, requires_grad=True) for s in (8, 4, 2)]
    empty = YoloTargets(torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long),
                        torch.zeros(2, 0, dtype=torch.bool))
    loss, parts = yolo_loss(levels, empty)
    loss.backward()
    assert parts["box"] == 0 and parts["cls"] > 0
    assert float(levels[0].grad[:, 64:].min()) > 0        # gradient lowers every class logit
