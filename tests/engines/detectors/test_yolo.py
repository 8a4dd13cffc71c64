"""YoloDetector: spec, module outputs, decoding through the shared op, weights files."""
import numpy as np
import pytest
import torch

from engines.detectors.yolo import YoloDetector
from engines.nets.weights_file import save_weights
from engines.nets.yolo import YoloNet

torch.set_num_threads(1)


def test_spec_and_output_names():
    det = YoloDetector("tiny")
    assert (det.spec.height, det.spec.width) == (320, 320)
    assert det.spec.channel_order == "rgb" and det.spec.pad_value == 114
    assert det.spec.mean == (0.0, 0.0, 0.0) and det.spec.std == (1.0, 1.0, 1.0)
    assert det.output_names == ("output0",)
    assert YoloDetector("n").spec.width == 640
    assert len(det.class_names) == 6 and "untrained" in det.describe()


def test_module_returns_a_tuple_in_the_v8_layout():
    det = YoloDetector("tiny")
    with torch.no_grad():
        (out,) = det.build_module()(torch.rand(1, 3, 320, 320))
    assert tuple(out.shape) == (1, 4 + 6, 2100)


def test_decode_reads_boxes_in_input_pixels():
    det = YoloDetector("tiny")
    pred = np.zeros((2, 4 + 6, 10), np.float32)
    pred[1, :4, 3] = [100, 50, 40, 20]       # cx, cy, w, h
    pred[1, 4 + 2, 3] = 0.9
    dets = det.decode({"output0": pred}, 1, conf_threshold=0.25)
    assert len(dets) == 1 and dets.class_id[0] == 2
    np.testing.assert_allclose(dets.xyxy[0], [80, 40, 120, 60])
    assert dets.label(2) == det.class_names[2]
    assert len(det.decode({"output0": pred}, 0)) == 0


def test_weights_round_trip_and_size_from_the_file(tmp_path):
    net = YoloNet(2, "tiny")
    path = save_weights(tmp_path / "y.pt", "yolo", "tiny", ["a", "b"], net.state_dict())
    det = YoloDetector(size=None, weights=path)
    assert det.class_names == ("a", "b") and det.weights_path == path
    loaded = det.build_net()
    assert torch.equal(loaded.state_dict()["head.cls.0.2.weight"],
                       net.state_dict()["head.cls.0.2.weight"])


def test_weights_that_do_not_fit_name_the_file(tmp_path):
    path = save_weights(tmp_path / "y.pt", "yolo", "tiny", ["a", "b"], YoloNet(2, "tiny").state_dict())
    with pytest.raises(ValueError, match="holds YOLO size 'tiny', expected 'n'"):
        YoloDetector("n", path)
    with pytest.raises(ValueError, match="trained for 2 classes"):
        YoloDetector("tiny", path, class_names=["a", "b", "c"])
    broken = save_weights(tmp_path / "broken.pt", "yolo", "tiny", ["a"], {"x": torch.zeros(1)})
    with pytest.raises(ValueError, match="broken.pt: does not fit YOLO tiny"):
        YoloDetector("tiny", broken)
