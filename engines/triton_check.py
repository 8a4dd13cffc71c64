"""Does a Triton model fit a detector? Compare the server's metadata and config with the detector's spec.

Pure functions over the JSON the server returns (gRPC ``as_json`` and HTTP give
the same fields; gRPC spells int64 as strings), so they are tested without a
server. A mismatch raises ValueError with one line: the worker and the CLI turn
that into a user error (exit 2), never into restarts.
"""
from __future__ import annotations

from dataclasses import dataclass

TRITON_DTYPES = {"FP32": "float32", "FP16": "float16", "FP64": "float64", "INT64": "int64",
                 "INT32": "int32", "UINT8": "uint8", "BOOL": "bool"}
NUMPY_TO_TRITON = {numpy: triton for triton, numpy in TRITON_DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str               # NumPy name: "float32", ...
    shape: tuple[int, ...]   # without the batch axis; -1 where the size is dynamic

    @property
    def static(self) -> bool:
        return all(dim > 0 for dim in self.shape)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    max_batch: int           # Triton's max_batch_size (0: the model does not batch)
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def output(self, name: str) -> TensorInfo:
        return next(out for out in self.outputs if out.name == name)


def _tensors(entries, batched: bool) -> tuple[TensorInfo, ...]:
    tensors = []
    for entry in entries or []:
        shape = tuple(int(dim) for dim in entry.get("shape", []))
        if batched and shape:
            shape = shape[1:]                         # metadata shapes include the batch axis (-1)
        datatype = str(entry.get("datatype", ""))
        tensors.append(TensorInfo(str(entry["name"]), TRITON_DTYPES.get(datatype, datatype.lower()), shape))
    return tuple(tensors)


def model_info(metadata: dict, config: dict) -> ModelInfo:
    """Server JSON -> ModelInfo. ``config`` may be wrapped as {"config": {...}} (gRPC)."""
    config = config.get("config", config)
    max_batch = int(config.get("max_batch_size", 0) or 0)
    return ModelInfo(name=str(metadata.get("name", config.get("name", ""))), max_batch=max_batch,
                     inputs=_tensors(metadata.get("inputs"), max_batch > 0),
                     outputs=_tensors(metadata.get("outputs"), max_batch > 0))


def check_model(info: ModelInfo, detector, *, max_batch: int, dtype: str = "float32") -> list[str]:
    """What does not fit between the served model and ``detector``; [] when it fits."""
    spec = detector.spec
    want = (3, spec.height, spec.width)
    problems = []
    if len(info.inputs) != 1:
        problems.append(f"has {len(info.inputs)} inputs {[t.name for t in info.inputs]}, expected one image input")
    else:
        image = info.inputs[0]
        if len(image.shape) != 3 or any(have not in (-1, need) for have, need in zip(image.shape, want)):
            problems.append(f"input {image.name} is {_shape_text(image.shape)}, {detector.name} needs "
                            f"{_shape_text(want)}")
        if image.dtype != dtype:
            problems.append(f"input {image.name} is {image.dtype}, expected {dtype}")
    served = {out.name for out in info.outputs}
    missing = [name for name in detector.output_names if name not in served]
    if missing:
        problems.append(f"outputs {sorted(served)} lack {missing} that {detector.name} decodes")
    if info.max_batch == 0 and max_batch > 1:
        problems.append(f"does not batch (max_batch_size 0), engine.max_batch is {max_batch}")
    elif info.max_batch and info.max_batch < max_batch:
        problems.append(f"max_batch_size is {info.max_batch}, engine.max_batch is {max_batch}")
    return problems


def raise_if_mismatch(info: ModelInfo, detector, url: str, *, max_batch: int, dtype: str = "float32") -> None:
    problems = check_model(info, detector, max_batch=max_batch, dtype=dtype)
    if problems:
        raise ValueError(f"triton model {info.name!r} at {url} does not fit {detector.name}: "
                         + "; ".join(problems))


def _shape_text(shape) -> str:
    return "x".join("?" if dim < 0 else str(dim) for dim in shape)
