"""What machine a benchmark ran on: CPU, cores, GPU, library versions."""
from __future__ import annotations

import os
import platform
from importlib import metadata

from engines.core.cpu import cpu_identity, cpu_label


def gpu_name() -> str | None:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        pass
    return None


def machine_info() -> dict:
    versions = {}
    for package in ("torch", "torchvision", "onnxruntime", "onnxruntime-gpu", "numpy",
                    "opencv-python-headless", "pyzmq", "cupy-cuda12x", "cupy-cuda13x", "tensorrt"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    cpu = cpu_identity()
    mhz = float(cpu["mhz"]) if cpu.get("mhz") else None
    return {"cpu": cpu["model"], "cpu_id": cpu_label(cpu), "cpu_mhz": mhz, "cores": os.cpu_count(),
            "gpu": gpu_name(), "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def machine_slug(info: dict) -> str:
    """A short name for result files: gpu name or 'cpu<cores>'."""
    if info["gpu"]:
        return info["gpu"].lower().replace("nvidia", "").strip().replace(" ", "-")
    return f"cpu{info['cores']}"
