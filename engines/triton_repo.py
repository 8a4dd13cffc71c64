"""``export --format triton``: a Triton model repository for NVIDIA's own server images.

Layout (what ``tritonserver --model-repository=REPO`` loads)::

    REPO/<name>/config.pbtxt
    REPO/<name>/1/model.onnx

The ONNX file has a dynamic batch axis; config.pbtxt names the ONNX Runtime
backend, ``max_batch_size``, dynamic batching and every input/output with its
type and dims (read back from the ONNX file, batch axis left out), and with
``tensorrt=True`` an optimisation block that lets the ONNX Runtime backend run
the model through TensorRT (FP16 with ``half``).
"""
from __future__ import annotations

from pathlib import Path

ONNX_TO_TRITON = {1: "TYPE_FP32", 10: "TYPE_FP16", 11: "TYPE_FP64", 7: "TYPE_INT64", 6: "TYPE_INT32",
                  2: "TYPE_UINT8", 9: "TYPE_BOOL"}   # onnx.TensorProto element types


def tensor_entries(onnx_path: Path) -> tuple[list[dict], list[dict]]:
    """(inputs, outputs) of the ONNX graph as {name, data_type, dims} without the batch axis."""
    import onnx
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}

    def entry(value) -> dict:
        tensor = value.type.tensor_type
        dims = [dim.dim_value if dim.dim_value > 0 else -1 for dim in tensor.shape.dim][1:]
        return {"name": value.name, "data_type": ONNX_TO_TRITON.get(tensor.elem_type, "TYPE_FP32"), "dims": dims}

    inputs = [entry(v) for v in graph.input if v.name not in initializers]
    outputs = [entry(v) for v in graph.output]
    if any(-1 in out["dims"] for out in outputs):
        _fill_output_dims(onnx_path, inputs, outputs)
    return inputs, outputs


def _fill_output_dims(onnx_path: Path, inputs: list[dict], outputs: list[dict]) -> None:
    """Sizes the exporter left symbolic, from one ONNX Runtime run on zeros (inputs have fixed dims)."""
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    dtypes = {"TYPE_FP16": np.float16}
    feeds = {e["name"]: np.zeros([1, *e["dims"]], dtypes.get(e["data_type"], np.float32)) for e in inputs}
    for out, value in zip(outputs, session.run([o["name"] for o in outputs], feeds)):
        out["dims"] = list(value.shape[1:])


def config_text(name: str, inputs: list[dict], outputs: list[dict], *, max_batch: int,
                max_queue_delay_us: int, tensorrt: bool, half: bool) -> str:
    """config.pbtxt in protobuf text format (model_config.proto)."""
    def tensors(entries: list[dict]) -> str:
        return ",\n".join(f'  {{\n    name: "{e["name"]}"\n    data_type: {e["data_type"]}\n'
                          f'    dims: [ {", ".join(map(str, e["dims"]))} ]\n  }}' for e in entries)

    text = (f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: {max_batch}\n'
            f"input [\n{tensors(inputs)}\n]\noutput [\n{tensors(outputs)}\n]\n"
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_queue_delay_us}\n}}\n")
    if tensorrt:
        precision = "FP16" if half else "FP32"
        text += ("optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [\n      {\n"
                 '        name: "tensorrt"\n'
                 f'        parameters {{ key: "precision_mode" value: "{precision}" }}\n'
                 '        parameters { key: "max_workspace_size_bytes" value: "1073741824" }\n'
                 "      }\n    ]\n  }\n}\n")
    return text


def write_repository(detector, out: str | Path, *, name: str | None = None, max_batch: int = 8,
                     max_queue_delay_us: int = 2000, tensorrt: bool = False, half: bool = False) -> Path:
    """Export ``detector`` into a Triton repository at ``out``; returns the model's folder."""
    from engines.onnx_export import export_onnx
    if max_batch < 1 or max_queue_delay_us < 0:
        raise ValueError("triton repository: max_batch must be >= 1 and max_queue_delay_us >= 0")
    name = name or detector.name
    folder = Path(out) / name
    onnx_path = folder / "1" / "model.onnx"
    export_onnx(detector, onnx_path, batch=1, dynamic_batch=True, half=half)
    inputs, outputs = tensor_entries(onnx_path)
    (folder / "config.pbtxt").write_text(config_text(name, inputs, outputs, max_batch=max_batch,
                                                     max_queue_delay_us=max_queue_delay_us,
                                                     tensorrt=tensorrt, half=half))
    return folder
