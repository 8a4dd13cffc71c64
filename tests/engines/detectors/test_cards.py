"""Detector cards: every family rebuilds from its card without reading weights, and torch-free."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engines.detectors import from_card, make_detector
from engines.onnx_export import export_onnx


@pytest.mark.parametrize("name", ["yolo", "centernet", "maskrcnn"])
def test_card_round_trip_keeps_spec_names_and_outputs(name):
    det = make_detector(name)
    card = json.loads(json.dumps(det.card()))          # JSON-able
    again = from_card(card)
    assert type(again) is type(det)
    assert (again.spec, again.class_names, again.output_names) == (det.spec, det.class_names, det.output_names)


def test_an_ultralytics_onnx_card_reads_only_the_onnx(tmp_path):
    path = export_onnx(make_detector("yolo"), tmp_path / "v8.onnx")
    det = make_detector("yolo", path)
    again = from_card(det.card())
    assert again.layout == "v8" and again.spec == det.spec and again.class_names == det.class_names


def test_not_a_card_is_refused():
    with pytest.raises(ValueError, match="not a detector card"):
        from_card({"type": "nonsense"})


def test_shipped_onnx_matches_the_shipped_torch_weights():
    import onnxruntime
    import torch
    det = make_detector("yolo")
    assert det.onnx_path is not None and det.weights_path is not None
    x = np.random.default_rng(0).random((2, 3, 320, 320), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(det.onnx_path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"images": x})
    with torch.no_grad():
        (torch_out,) = det.build_module()(torch.from_numpy(x))
    np.testing.assert_allclose(onnx_out, torch_out.numpy(), rtol=1e-3, atol=1e-3)


TORCH_FREE = """
import sys
import numpy as np
from engines.detectors import from_card, make_detector
from engines.select import make_engine
from pipeline.model_card import resolve_card
from pipeline.stages.postprocess import PostprocessStage
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.sink import SinkStage
from pipeline.stages.capture import CaptureStage
card = resolve_card("yolo", None, None)
det = from_card(card)
engine = make_engine("auto", det, threads=1)
out = engine.infer(np.zeros((1, 3, 320, 320), np.float32))
det.decode(out, 0)
print(engine.meta.name, "torch" in sys.modules)
"""


def test_the_default_model_runs_without_importing_torch():
    done = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnxruntime", "False"]


@pytest.mark.parametrize("name", ["yolo", "centernet", "maskrcnn"])
def test_shipped_cards_match_the_weights_files(name):
    from engines.detectors import WEIGHTS_DIR
    from engines.nets.weights_file import read_torch_file
    card = json.loads((WEIGHTS_DIR / f"{name}_tiny.json").read_text())
    data = read_torch_file(WEIGHTS_DIR / f"{name}_tiny.pt")
    assert (card["model"], card["size"], card["class_names"]) == (data["model"], data["size"], data["class_names"])


def test_a_dynamic_batch_export_keeps_its_output_sizes(tmp_path):
    # regression: with a dynamic batch axis the exporter left every output size symbolic, so the
    # shipped yolo_tiny.onnx given as --weights failed with "unknown output layout [None, None, None]"
    from engines.detectors import WEIGHTS_DIR
    path = export_onnx(make_detector("yolo"), tmp_path / "dyn.onnx", batch=4, dynamic_batch=True)
    for onnx_file in (path, WEIGHTS_DIR / "yolo_tiny.onnx"):
        det = make_detector("yolo", onnx_file)
        assert det.layout == "v8" and len(det.class_names) == 6
