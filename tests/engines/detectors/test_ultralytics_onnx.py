"""Tests for engines/detectors/ultralytics_onnx.py with ONNX files shaped like Ultralytics exports.

The files are built here: tiny torch modules whose single output has the
YOLOv5 layout [1, 6300, 5+C] or the YOLOv8/YOLO11 layout [1, 4+C, 2100] (a
320x320 input), with one confident box planted, and Ultralytics-like metadata.
"""
import warnings

import numpy as np
import onnx
import pytest
import torch

from engines.detectors.ultralytics_onnx import UltralyticsOnnxDetector
from engines.onnxruntime_engine import OnnxRuntimeEngine

torch.set_num_threads(1)
NAMES = {0: "person", 1: "bicycle"}
BOX = (100.0, 120.0, 40.0, 60.0)          # cx, cy, w, h in input pixels -> xyxy (80, 90, 120, 150)


class PlantedHead(torch.nn.Module):
    """Outputs a fixed prediction tensor (plus 0 * the input, so the graph uses its input)."""

    def __init__(self, prediction: torch.Tensor, outputs: int = 1) -> None:
        super().__init__()
        self.register_buffer("prediction", prediction)
        self.outputs = outputs

    def forward(self, x):
        out = self.prediction + 0.0 * x.mean()
        return out if self.outputs == 1 else (out, x[:, :1] * 1.0)


def v5_prediction(num_classes=2, anchors=6300):
    pred = torch.zeros(1, anchors, 5 + num_classes)
    pred[0, :, 2:4] = 10.0
    pred[0, 17, :4] = torch.tensor(BOX)
    pred[0, 17, 4], pred[0, 17, 5 + 1] = 0.95, 0.9            # objectness, class 1
    return pred


def v8_prediction(num_classes=2, anchors=2100):
    pred = torch.zeros(1, 4 + num_classes, anchors)
    pred[0, 2:4, :] = 10.0
    pred[0, :4, 42] = torch.tensor(BOX)
    pred[0, 4 + 1, 42] = 0.9                                   # class 1
    return pred


def write_onnx(path, prediction, *, metadata=None, size=320, dynamic=None, outputs=1, half=False):
    module = PlantedHead(prediction, outputs).eval()
    dummy = torch.zeros(1, 3, size, size)
    if half:
        module, dummy = module.half(), dummy.half()
    names = ["output0"] if outputs == 1 else ["output0", "output1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (dummy,), str(path), input_names=["images"], output_names=names,
                          opset_version=17, dynamo=False, dynamic_axes=dynamic)
    model = onnx.load(str(path))
    entries = {"names": repr(NAMES), "task": "detect", "stride": "32", **(metadata or {})}
    for key, value in entries.items():
        if value is not None:
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    onnx.save(model, str(path))
    return path


def test_v5_layout_and_names(tmp_path):
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / "v5.onnx", v5_prediction()))
    assert detector.layout == "v5" and detector.class_names == ("person", "bicycle")
    assert (detector.spec.height, detector.spec.width, detector.spec.channel_order) == (320, 320, "rgb")
    assert (detector.spec.mean, detector.spec.std, detector.spec.pad_value) == ((0, 0, 0), (1, 1, 1), 114)
    assert detector.output_names == ("output0",) and detector.onnx_path.name == "v5.onnx"


def test_v8_layout_and_names(tmp_path):
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / "v8.onnx", v8_prediction()))
    assert detector.layout == "v8" and detector.class_names == ("person", "bicycle")
    with pytest.raises(NotImplementedError, match="no PyTorch module"):
        detector.build_module()


def test_names_default_when_metadata_has_none(tmp_path):
    path = write_onnx(tmp_path / "v8.onnx", v8_prediction(num_classes=3), metadata={"names": None})
    assert UltralyticsOnnxDetector(path).class_names == ("class0", "class1", "class2")


def test_names_count_must_match_the_output(tmp_path):
    path = write_onnx(tmp_path / "v8.onnx", v8_prediction(num_classes=3))
    with pytest.raises(ValueError, match=r"v8.onnx: metadata 'names' has 2 classes but the v8 output has 3"):
        UltralyticsOnnxDetector(path)


def test_names_are_parsed_never_evaluated(tmp_path):
    path = write_onnx(tmp_path / "v8.onnx", v8_prediction(),
                      metadata={"names": "__import__('os').getcwd()"})
    with pytest.raises(ValueError, match="metadata 'names' is not a dict or list of class names"):
        UltralyticsOnnxDetector(path)


def test_dynamic_export_dims_are_handled(tmp_path):
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 2: "anchors"}}
    path = write_onnx(tmp_path / "v8dyn.onnx", v8_prediction(), dynamic=axes, metadata={"imgsz": "[320, 320]"})
    detector = UltralyticsOnnxDetector(path)
    assert detector.layout == "v8" and (detector.spec.height, detector.spec.width) == (320, 320)
    axes = {"images": {0: "batch"}, "output0": {0: "batch", 1: "anchors"}}
    assert UltralyticsOnnxDetector(write_onnx(tmp_path / "v5dyn.onnx", v5_prediction(), dynamic=axes)).layout == "v5"


def test_ultralytics_dynamic_export_with_both_output_axes_symbolic(tmp_path):
    # export(dynamic=True) declares the output [batch, dim_1, anchors]: the metadata says v8 and C
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "dim_1", 2: "anchors"}}
    path = write_onnx(tmp_path / "v8dyn.onnx", v8_prediction(), dynamic=axes,
                      metadata={"imgsz": "[320, 320]", "version": "8.4.190"})
    detector = UltralyticsOnnxDetector(path)
    assert detector.layout == "v8" and detector.class_names == ("person", "bicycle")
    engine = OnnxRuntimeEngine(detector, device="cpu", max_batch=2).load()
    assert engine.meta.dynamic_batch      # (the planted head itself always outputs one image)
    out = engine.infer(np.zeros((1, 3, 320, 320), np.float32))["output0"]
    np.testing.assert_allclose(out[0], v8_prediction()[0].numpy())
    without_version = write_onnx(tmp_path / "odd.onnx", v8_prediction(), dynamic=axes,
                                 metadata={"imgsz": "[320, 320]"})
    with pytest.raises(ValueError, match="unknown output layout"):
        UltralyticsOnnxDetector(without_version)


def test_dynamic_size_without_imgsz_is_an_error(tmp_path):
    axes = {"images": {2: "height", 3: "width"}}
    path = write_onnx(tmp_path / "dyn.onnx", v8_prediction(), dynamic=axes)
    with pytest.raises(ValueError, match="dynamic and no imgsz was given"):
        UltralyticsOnnxDetector(path)
    assert UltralyticsOnnxDetector(path, imgsz=(320, 320)).spec.width == 320


def test_fp16_export_gives_a_float16_spec(tmp_path):
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / "h.onnx", v8_prediction(), half=True))
    assert detector.spec.dtype == "float16"


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "weights.onnx"
    path.write_bytes(b"\x00\xffthis is not protobuf" * 10)
    with pytest.raises(ValueError, match="weights.onnx: (not an ONNX model file|expected one image input)"):
        UltralyticsOnnxDetector(path)
    with pytest.raises(FileNotFoundError, match="missing.onnx does not exist"):
        UltralyticsOnnxDetector(tmp_path / "missing.onnx")


@pytest.mark.parametrize("prediction", [torch.zeros(1, 30, 30), torch.zeros(1, 8400), torch.zeros(1, 1, 4, 8)])
def test_unknown_output_layout(tmp_path, prediction):
    path = write_onnx(tmp_path / "odd.onnx", prediction, metadata={"names": None})
    with pytest.raises(ValueError, match=r"odd.onnx: unknown output layout .*expected YOLOv5 \[B, N, 5\+C\]"):
        UltralyticsOnnxDetector(path)


def test_segmentation_exports_are_refused(tmp_path):
    path = write_onnx(tmp_path / "seg.onnx", v8_prediction(), outputs=2)
    with pytest.raises(ValueError, match="expected one output"):
        UltralyticsOnnxDetector(path)
    path = write_onnx(tmp_path / "pose.onnx", v8_prediction(), metadata={"task": "pose"})
    with pytest.raises(ValueError, match="is a 'pose' model"):
        UltralyticsOnnxDetector(path)


@pytest.mark.parametrize("layout, prediction", [("v5", v5_prediction), ("v8", v8_prediction)])
def test_runs_on_onnxruntime(tmp_path, layout, prediction):
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / f"{layout}.onnx", prediction()))
    engine = OnnxRuntimeEngine(detector, device="cpu", max_batch=2).load()
    out = engine.infer(np.zeros((2, 3, 320, 320), np.float32))["output0"]
    assert out.shape == (2,) + tuple(prediction().shape[1:])
    np.testing.assert_allclose(out[1], prediction()[0].numpy())


@pytest.mark.parametrize("layout, prediction", [("v5", v5_prediction), ("v8", v8_prediction)])
def test_end_to_end_detections(tmp_path, layout, prediction):
    pytest.importorskip("engines.ops.backend", reason="engines/ops (yolo_decode) not written yet")
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / f"{layout}.onnx", prediction()))
    engine = OnnxRuntimeEngine(detector, device="cpu").load()
    found = detector.decode(engine.infer(np.zeros((1, 3, 320, 320), np.float32)), 0, conf_threshold=0.5)
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [80, 90, 120, 150], atol=1e-3)
    assert found.class_id[0] == 1 and found.label(1) == "bicycle"
    assert found.score[0] == pytest.approx(0.95 * 0.9 if layout == "v5" else 0.9, abs=1e-4)


def test_decode_accepts_torch_outputs(tmp_path):
    pytest.importorskip("engines.ops.backend", reason="engines/ops (yolo_decode) not written yet")
    detector = UltralyticsOnnxDetector(write_onnx(tmp_path / "v8.onnx", v8_prediction()))
    found = detector.decode({"output0": v8_prediction()}, 0, conf_threshold=0.5)
    assert len(found) == 1 and isinstance(found.xyxy, np.ndarray) and found.class_id[0] == 1
