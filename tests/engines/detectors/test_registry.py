"""make_detector: names, shipped defaults, ONNX dispatch, and clear errors."""
import sys
import types

import pytest
import torch

from engines.detectors import known_detectors, make_detector, register_detector
from engines.nets.centernet import CenterNetNet
from engines.nets.weights_file import save_weights
from engines.nets.yolo import YoloNet


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown model 'detr'; known models: .*'centernet'.*'yolo'"):
        make_detector("detr")


def test_yolo_and_centernet_from_our_files(tmp_path):
    y = save_weights(tmp_path / "y.pt", "yolo", "tiny", list("abc"), YoloNet(3, "tiny").state_dict())
    c = save_weights(tmp_path / "c.pt", "centernet", "tiny", list("ab"),
                     CenterNetNet(2, "tiny").state_dict())
    assert make_detector("yolo", y).class_names == tuple("abc")
    assert make_detector("centernet", str(c)).class_names == tuple("ab")


def test_wrong_family_names_the_file(tmp_path):
    c = save_weights(tmp_path / "c.pt", "centernet", "tiny", list("ab"),
                     CenterNetNet(2, "tiny").state_dict())
    with pytest.raises(ValueError, match="c.pt: holds a 'centernet' model, expected 'yolo'"):
        make_detector("yolo", c)


def test_official_centernet_file_is_recognised(tmp_path):
    path = tmp_path / "official.pth"
    state = {f"module.{k}": v for k, v in CenterNetNet(80, "r18").state_dict().items()}
    torch.save({"epoch": 70, "state_dict": state}, path)
    det = make_detector("centernet", path)
    assert det.official and det.spec.channel_order == "bgr"


def test_onnx_file_goes_to_the_ultralytics_detector(tmp_path, monkeypatch):
    onnx_file = tmp_path / "yolov8n.onnx"
    onnx_file.write_bytes(b"stub")
    fake = types.ModuleType("engines.detectors.ultralytics_onnx")
    fake.UltralyticsOnnxDetector = lambda path: ("ultralytics", path)
    monkeypatch.setitem(sys.modules, "engines.detectors.ultralytics_onnx", fake)
    assert make_detector("yolo", onnx_file) == ("ultralytics", onnx_file)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        make_detector("yolo", tmp_path / "missing.onnx")


def test_default_weights_are_the_shipped_ones_or_an_untrained_net():
    det = make_detector("yolo")
    assert det.size == "tiny"
    if det.weights_path is not None:
        assert det.weights_path.name == "yolo_tiny.pt"
    assert make_detector("yolo", size="n").weights_path is None


def test_new_families_can_register(monkeypatch):
    from engines import detectors
    monkeypatch.setattr(detectors, "_FACTORIES", dict(detectors._FACTORIES))
    register_detector("maskrcnn", lambda weights, size, names: ("maskrcnn", weights, size))
    assert "maskrcnn" in known_detectors()
    assert make_detector("maskrcnn", size="r50") == ("maskrcnn", None, "r50")
