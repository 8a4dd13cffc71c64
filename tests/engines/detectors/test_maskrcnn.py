"""Mask R-CNN: mask pasting and mapping to source, the tiny default, ONNX, the shipped weights."""
import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from engines.detectors import make_detector
from engines.ops.masks import paste_masks
from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy
from pipeline.sources.synthetic import SyntheticScene

torch.set_num_threads(1)


def test_paste_fills_exactly_an_integer_box():
    masks = paste_masks(np.ones((1, 28, 28), np.float32), np.array([[2, 3, 10, 7]]), 12, 16)
    expected = np.zeros((12, 16), bool)
    expected[3:7, 2:10] = True
    np.testing.assert_array_equal(masks[0], expected)


def test_paste_keeps_the_left_half_and_clips_to_the_canvas():
    probs = np.zeros((2, 28, 28), np.float32)
    probs[0, :, :14] = 1.0
    probs[1] = 1.0
    boxes = np.array([[0, 0, 8, 4], [-5, -5, 3, 2]], np.float32)   # the second sticks out
    masks = paste_masks(probs, boxes, 6, 10)
    assert masks[0, :4, :4].all() and not masks[0, :, 4:].any() and not masks[0, 4:].any()
    assert masks[1, :2, :3].all() and masks[1].sum() == 6


def test_paste_matches_torchvision_pasting():
    """Up to a pixel at the edges: torchvision truncates the box to integers and pastes a
    1-pixel-padded mask, we sample at exact pixel centres; small disks show that most."""
    yy, xx = np.mgrid[0:28, 0:28] + 0.5
    radius = np.hypot(xx - 14, yy - 14)
    probs = np.stack([1 / (1 + np.exp(radius - r)) for r in (6, 9, 12, 14)]).astype(np.float32)
    boxes = np.array([[10, 12, 60, 40], [0, 0, 30, 30], [40.5, 20.25, 90.75, 77.5],
                      [70, 5, 99, 35]], np.float32)
    ours = paste_masks(probs, boxes, 80, 100)
    theirs = paste_masks_in_image(torch.from_numpy(probs)[:, None], torch.from_numpy(boxes),
                                  (80, 100))[:, 0].numpy() >= 0.5
    for a, b in zip(ours, theirs):
        iou = (a & b).sum() / max((a | b).sum(), 1)
        assert iou > 0.85


def test_paste_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"paste_masks: expected \(N, M, M\) .* 2 boxes"):
        paste_masks(np.ones((1, 28, 28)), np.zeros((2, 4)), 8, 8)


def test_masks_to_source_crops_the_letterbox_and_scales_by_pixel():
    box = Letterbox.fit(4, 8, PreprocessSpec(height=4, width=4))      # scale 0.5, pad_y 1
    assert (box.scale, box.pad_x, box.pad_y, box.resized_w, box.resized_h) == (0.5, 0, 1, 4, 2)
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 1, 0] = True          # first row of the letterboxed region, first column
    masks[1, 2, 3] = True          # its last row and column
    masks[1, 0, :] = True          # padding: must vanish
    source = box.masks_to_source(masks, 4, 8)
    expected = np.zeros((2, 4, 8), bool)
    expected[0, 0:2, 0:2] = True
    expected[1, 2:4, 6:8] = True
    np.testing.assert_array_equal(source, expected)


def test_masks_to_source_empty_and_errors():
    box = Letterbox.fit(480, 640, PreprocessSpec(height=320, width=320))
    assert box.masks_to_source(np.zeros((0, 320, 320), bool), 480, 640).shape == (0, 480, 640)
    with pytest.raises(ValueError, match=r"masks_to_source: expected \(N, H, W\)"):
        box.masks_to_source(np.zeros((320, 320), bool), 480, 640)
    with pytest.raises(ValueError, match="do not hold the letterboxed region"):
        box.masks_to_source(np.zeros((1, 100, 100), bool), 480, 640)


def test_default_is_the_tiny_model_and_handles_a_tiny_frame():
    det = make_detector("maskrcnn")
    assert det.name == "maskrcnn_tiny" and det.spec.height == det.spec.width == 320
    assert len(det.class_names) == 6
    frame = np.full((12, 16, 3), 40, np.uint8)
    frame[3:9, 4:12] = (30, 200, 240)
    image, box = letterbox_numpy(frame, det.spec)
    with torch.no_grad():
        outputs = [o.numpy() for o in det.build_module()(torch.from_numpy(image)[None])]
    named = dict(zip(det.output_names, outputs))
    assert named["masks"].shape == (1, 100, 28, 28)
    dets = det.decode(named, 0, conf_threshold=0.0)
    assert dets.mask.shape == (len(dets), 320, 320)
    assert box.masks_to_source(dets.mask, 12, 16).shape == (len(dets), 12, 16)


def test_tiny_maskrcnn_exports_to_onnx_with_the_torchscript_exporter(tmp_path):
    """torch.onnx.export(dynamo=False, opset 17) works for a fixed batch and input size; the
    dynamo exporter fails inside torchvision's batched_nms (a data-dependent branch)."""
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    det = make_detector("maskrcnn", size="tiny")
    module = det.build_module()
    dummy = torch.zeros(1, 3, 320, 320)                  # exported on an empty picture ...
    torch.onnx.export(module, (dummy,), str(tmp_path / "m.onnx"), opset_version=17,
                      input_names=["images"], output_names=list(det.output_names), dynamo=False)
    x = torch.rand(1, 3, 320, 320)                       # ... it still follows another input
    with torch.no_grad():
        expected = [o.numpy() for o in module(x)]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})
    assert got[3].tolist() == expected[3].tolist()
    for name, a, b in zip(det.output_names, got, expected):
        np.testing.assert_allclose(a, b, atol=1e-3, err_msg=name)


@pytest.mark.slow
def test_shipped_tiny_maskrcnn_reaches_mask_map50():
    from engines.training.maskrcnn_eval import evaluate_maskrcnn
    det = make_detector("maskrcnn")
    if det.weights_path is None:
        pytest.skip("no shipped engines/weights/maskrcnn_tiny.pt")
    result = evaluate_maskrcnn(frames=30, detector=det, scenes=SyntheticScene)
    assert result["segm"]["mAP50"] >= 0.85
    assert result["bbox"]["mAP50"] >= 0.85
