"""Test helper: export a module to ONNX in a temp folder, check it and run it with onnxruntime."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch


def export_and_run(module: torch.nn.Module, x: torch.Tensor, path, output_names) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), input_names=["images"],
                          output_names=list(output_names), opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x.numpy()})
