"""Tests for engines/onnx_export.py and engines/cache.py: ONNX that TensorRT's parser and ORT accept, metadata, the cache."""
import ast
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from engines.base import EngineUnavailable
from engines.cache import cached_onnx, module_fingerprint, prune_cache
from engines.onnx_export import export_onnx, onnx_problems
from engines.tensorrt_engine import tensorrt_installed
from engines.tensorrt_engine import write_plan as export_tensorrt
from tests.engines.engine_toys import ToyDetector


def _opset(model) -> int:
    return {entry.domain: entry.version for entry in model.opset_import}[""]


def _batch_dim(value):
    return value.type.tensor_type.shape.dim[0]


def test_static_export_is_standard_onnx(tmp_path):
    path = export_onnx(ToyDetector(), tmp_path / "toy.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert _opset(model) <= 17
    assert {node.domain for node in model.graph.node} <= {"", "ai.onnx"}
    assert [value.name for value in model.graph.input] == ["images"]
    assert [value.name for value in model.graph.output] == ["output0"]
    assert _batch_dim(model.graph.input[0]).dim_value == 1
    assert onnx_problems(model) == []


def test_dynamic_batch_axis_is_named(tmp_path):
    path = export_onnx(ToyDetector(two_outputs=True), tmp_path / "toy.onnx", dynamic_batch=True)
    model = onnx.load(str(path))
    for value in list(model.graph.input) + list(model.graph.output):
        assert _batch_dim(value).dim_param == "batch", value.name
    assert [value.name for value in model.graph.output] == ["output0", "features"]


def test_metadata_keeps_names_and_model(tmp_path):
    model = onnx.load(str(export_onnx(ToyDetector(num_classes=3), tmp_path / "toy.onnx", batch=2)))
    meta = {prop.key: prop.value for prop in model.metadata_props}
    assert ast.literal_eval(meta["names"]) == {0: "thing0", 1: "thing1", 2: "thing2"}
    assert meta["model"] == "toy"
    settings = json.loads(meta["streamdet_export"])
    assert settings["batch"] == 2 and settings["opset"] == 17 and settings["half"] is False


def test_half_export_has_float16_input(tmp_path):
    model = onnx.load(str(export_onnx(ToyDetector(), tmp_path / "toy16.onnx", half=True)))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert onnx_problems(model) == []


def test_export_does_not_change_the_callers_module(tmp_path):
    module = ToyDetector().build_module()
    export_onnx(ToyDetector(), tmp_path / "toy16.onnx", half=True, module=module)
    assert next(module.parameters()).dtype == torch.float32


def test_opset_above_17_is_refused(tmp_path):
    with pytest.raises(ValueError, match="opset must be between 1 and 17"):
        export_onnx(ToyDetector(), tmp_path / "toy.onnx", opset=18)


@pytest.mark.slow
def test_dynamo_exporter_also_gives_opset_17(tmp_path):
    path = export_onnx(ToyDetector(), tmp_path / "toy.onnx", dynamic_batch=True, exporter="dynamo")
    model = onnx.load(str(path))
    assert _opset(model) <= 17 and onnx_problems(model) == []


def _tiny_graph(op_domain="", opset=17, batch_dim="batch"):
    node = helper.make_node("Relu", ["x"], ["y"], domain=op_domain)
    shape = [batch_dim, 3]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(op_domain, 1)] if op_domain else [])
    return helper.make_model(graph, opset_imports=imports)


def test_problems_flag_custom_ops_opset_and_batch_axis():
    assert onnx_problems(_tiny_graph()) == []
    assert any("custom operators com.acme::Relu" in p for p in onnx_problems(_tiny_graph(op_domain="com.acme")))
    assert any("opset 18 is above 17" in p for p in onnx_problems(_tiny_graph(opset=18)))
    assert any("batch axis" in p for p in onnx_problems(_tiny_graph(batch_dim=None)))


def test_cache_reuses_the_export(tmp_path):
    first = cached_onnx(ToyDetector(), root=tmp_path)
    stamp = first.stat().st_mtime_ns
    again = cached_onnx(ToyDetector(), root=tmp_path)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.parent == tmp_path / "onnx"


def test_cache_key_follows_weights_and_settings(tmp_path):
    base = cached_onnx(ToyDetector(), root=tmp_path)
    assert cached_onnx(ToyDetector(seed=1), root=tmp_path) != base          # other weights
    assert cached_onnx(ToyDetector(), root=tmp_path, dynamic_batch=True) != base
    assert cached_onnx(ToyDetector(), root=tmp_path, half=True) != base
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 4


def test_cache_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path / "c"))
    path = cached_onnx(ToyDetector())
    assert path.is_relative_to(tmp_path / "c" / "onnx")


def test_fingerprint_sees_a_changed_weight():
    module = ToyDetector().build_module()
    before = module_fingerprint(module)
    with torch.no_grad():
        module.head.bias[0] += 1e-3
    assert module_fingerprint(module) != before


@pytest.mark.skipif(tensorrt_installed(), reason="TensorRT is installed here")
def test_export_tensorrt_without_tensorrt_says_how_to_install(tmp_path):
    onnx_path = export_onnx(ToyDetector(), tmp_path / "toy.onnx")
    with pytest.raises(EngineUnavailable, match="needs the 'tensorrt' Python package and an NVIDIA GPU: "
                                                "pip install tensorrt"):
        export_tensorrt(onnx_path, tmp_path / "toy.engine", max_batch=2)
    assert not (tmp_path / "toy.engine").exists()


def test_prune_keeps_the_newest_exports_of_a_model(tmp_path):
    import os
    names = [f"yolo-{index:020x}.onnx" for index in range(5)]
    for index, name in enumerate(names):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (index, index))
    others = ["centernet-" + "0" * 20 + ".onnx", "yolo-v2-" + "0" * 20 + ".onnx"]
    for name in others:
        (tmp_path / name).write_bytes(b"x")
    removed = prune_cache(tmp_path, "yolo-", keep=2)
    assert sorted(p.name for p in removed) == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others + names[3:])
