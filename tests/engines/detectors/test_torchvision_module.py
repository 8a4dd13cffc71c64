"""FixedOutputs and pad_detections: fixed padded shapes, same answers as torchvision forward."""
import numpy as np
import pytest
import torch

from engines.detectors.maskrcnn_tiny import build_tiny_maskrcnn
from engines.detectors.torchvision_module import (FixedOutputs, fit_transform_to_input,
                                                  output_names, pad_detections)

torch.set_num_threads(1)


def test_pad_detections_pads_with_zeros_and_counts():
    dets = [{"boxes": torch.arange(8.0).view(2, 4), "scores": torch.tensor([0.9, 0.5]),
             "labels": torch.tensor([3, 1]), "keypoints": torch.ones(2, 17, 3),
             "keypoints_scores": torch.full((2, 17), 7.0)},
            {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
             "labels": torch.zeros(0, dtype=torch.int64), "keypoints": torch.zeros(0, 17, 3),
             "keypoints_scores": torch.zeros(0, 17)}]
    boxes, scores, labels, count, points = pad_detections(dets, 3, "keypoints")
    assert boxes.shape == (2, 3, 4) and points.shape == (2, 3, 17, 3)
    assert count.tolist() == [2, 0] and count.dtype == torch.int64
    assert labels.tolist() == [[3, 1, 0], [0, 0, 0]] and scores[0, 2] == 0
    assert torch.equal(boxes[0, :2], dets[0]["boxes"]) and not boxes[1].any()
    assert (points[0, :2, :, 2] == 7).all() and (points[0, :2, :, :2] == 1).all()


def test_pad_detections_keeps_at_most_k():
    dets = [{"boxes": torch.rand(5, 4), "scores": torch.linspace(1, 0.1, 5),
             "labels": torch.ones(5, dtype=torch.int64), "masks": torch.rand(5, 1, 28, 28)}]
    outputs = pad_detections(dets, 2, "masks")
    assert [tuple(o.shape) for o in outputs] == [(1, 2, 4), (1, 2), (1, 2), (1,), (1, 2, 28, 28)]
    assert outputs[3].item() == 2 and torch.equal(outputs[4][0], dets[0]["masks"][:2, 0])
    assert output_names("masks") == ("boxes", "scores", "labels", "count", "masks")


def test_transform_only_normalises_at_the_input_size():
    model = build_tiny_maskrcnn(3).eval()
    fit_transform_to_input(model, 96)
    image = torch.rand(3, 96, 96)
    batch, _ = model.transform([image])
    mean = torch.tensor(model.transform.image_mean).view(3, 1, 1)
    std = torch.tensor(model.transform.image_std).view(3, 1, 1)
    assert batch.image_sizes == [(96, 96)]
    torch.testing.assert_close(batch.tensors[0], (image - mean) / std)


def test_two_stage_internals_match_torchvision_forward():
    torch.manual_seed(0)
    model = build_tiny_maskrcnn(3).eval()
    fit_transform_to_input(model, 128)
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        boxes, scores, labels, count, masks = FixedOutputs(model, True, "masks", 100)(x)
        reference = model(list(x))
    for i, ref in enumerate(reference):
        n = int(count[i])
        assert n == len(ref["scores"]) > 0
        torch.testing.assert_close(boxes[i, :n], ref["boxes"])
        torch.testing.assert_close(scores[i, :n], ref["scores"])
        assert torch.equal(labels[i, :n], ref["labels"])
        assert masks.shape[-2:] == (28, 28) and ((masks >= 0) & (masks <= 1)).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_items_are_independent(batch):
    torch.manual_seed(1)
    model = build_tiny_maskrcnn(3).eval()
    fit_transform_to_input(model, 96)
    module = FixedOutputs(model, True, "masks", 10)
    x = torch.rand(batch, 3, 96, 96)
    with torch.no_grad():
        together = module(x)
        alone = module(x[-1:])
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a[-1].numpy(), b[0].numpy(), atol=1e-4)
