"""The served model vs the detector's spec: pure checks over the JSON Triton returns."""
from types import SimpleNamespace

import pytest

from engines.core.spec import PreprocessSpec
from engines.triton_check import check_model, model_info, raise_if_mismatch

DETECTOR = SimpleNamespace(name="yolo", spec=PreprocessSpec(height=320, width=320), output_names=("output0",))


def grpc_json(name="yolo", dims=("-1", "3", "320", "320"), outputs=("output0",), max_batch="8", dtype="FP32"):
    """What tritonclient.grpc returns with as_json=True (int64 as strings, config wrapped)."""
    metadata = {"name": name, "inputs": [{"name": "images", "datatype": dtype, "shape": list(dims)}],
                "outputs": [{"name": out, "datatype": "FP32", "shape": ["-1", "7", "2100"]} for out in outputs]}
    return metadata, {"config": {"name": name, "max_batch_size": max_batch}}


def test_grpc_json_is_read_without_the_batch_axis():
    info = model_info(*grpc_json())
    assert info.max_batch == 8
    assert info.inputs[0].shape == (3, 320, 320) and info.inputs[0].dtype == "float32"
    assert info.output("output0").shape == (7, 2100) and info.output("output0").static
    assert check_model(info, DETECTOR, max_batch=8) == []


def test_http_json_without_wrapper_and_dynamic_sizes():
    metadata = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, -1, -1]}],
                "outputs": [{"name": "output0", "datatype": "FP16", "shape": [-1, -1]}]}
    info = model_info(metadata, {"max_batch_size": 4})
    assert info.inputs[0].shape == (3, -1, -1)
    assert info.output("output0").dtype == "float16" and not info.output("output0").static
    assert check_model(info, DETECTOR, max_batch=4) == []


def test_a_model_that_does_not_batch_keeps_its_first_axis():
    metadata, config = grpc_json(dims=("1", "3", "320", "320"), max_batch="0")
    info = model_info(metadata, config)
    assert info.inputs[0].shape == (1, 3, 320, 320)
    assert any("input images" in problem for problem in check_model(info, DETECTOR, max_batch=1))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"dims": ("-1", "3", "640", "640")}, "input images is 3x640x640, yolo needs 3x320x320"),
    ({"outputs": ("hm", "wh")}, "lack ['output0']"),
    ({"max_batch": "2"}, "max_batch_size is 2, engine.max_batch is 8"),
    ({"max_batch": "0"}, "does not batch"),
    ({"dtype": "FP16"}, "input images is float16, expected float32"),
])
def test_each_mismatch_is_named(kwargs, fragment):
    info = model_info(*grpc_json(**kwargs))
    problems = check_model(info, DETECTOR, max_batch=8)
    assert any(fragment in problem for problem in problems), problems


def test_mismatch_raises_one_line_value_error_naming_server_and_model():
    info = model_info(*grpc_json(dims=("-1", "3", "640", "640"), outputs=("hm",)))
    with pytest.raises(ValueError) as caught:
        raise_if_mismatch(info, DETECTOR, "10.0.0.5:8001", max_batch=1)
    text = str(caught.value)
    assert "\n" not in text and "'yolo' at 10.0.0.5:8001" in text and "640" in text and "output0" in text


def test_two_inputs_are_refused():
    metadata, config = grpc_json()
    metadata["inputs"].append({"name": "scale", "datatype": "FP32", "shape": ["-1", "1"]})
    assert any("2 inputs" in p for p in check_model(model_info(metadata, config), DETECTOR, max_batch=1))
