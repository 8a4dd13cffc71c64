"""Which CPU this is, in more words than its brand string.

Cloud VMs report one "model name" ("AMD EPYC") for parts years apart: this
project's 2-core VMs of that name ran the shipped model's inference ~9x apart
(benchmarks/results/cpu2-epyc-2026-12-03 and -zen1-2026-12-04). So a CPU
budget calibrated on one must not be reused on the other, and a benchmark must
say which it ran on: the family, model and stepping, and the vector extensions
ONNX Runtime's kernels choose between, tell them apart.
"""
from __future__ import annotations

import platform

VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve")
_FIELDS = {"model name": "model", "cpu family": "family", "model": "model_number", "stepping": "stepping",
           "cpu MHz": "mhz", "CPU implementer": "implementer", "CPU part": "part"}


def parse_cpuinfo(text: str) -> dict:
    """The first processor's identity from /proc/cpuinfo text (keys absent where the text has none)."""
    info: dict = {}
    flags: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            if info:
                break                   # the first processor's block is enough: a VM's cores are alike
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in _FIELDS:
            info.setdefault(_FIELDS[key], value)
        elif key in ("flags", "Features"):
            flags = set(value.split())
    info["vector"] = [flag for flag in VECTOR_FLAGS if flag in flags]
    return info


def cpu_identity() -> dict:
    """This machine's CPU: model, family, model_number, stepping, mhz, vector (by /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = parse_cpuinfo(f.read())
    except OSError:
        info = {"vector": []}
    info.setdefault("model", platform.processor() or "unknown")
    return info


def cpu_label(info: dict | None = None) -> str:
    """One line that differs between CPUs sold under one name: 'AMD EPYC family 23 model 1 stepping 2 avx2,fma'."""
    info = cpu_identity() if info is None else info
    parts = [info.get("model", "unknown")]
    for key, word in (("family", "family"), ("model_number", "model"), ("stepping", "stepping"),
                      ("implementer", "implementer"), ("part", "part")):
        if info.get(key):
            parts.append(f"{word} {info[key]}")
    parts.append(",".join(info.get("vector", [])) or "no-simd-flags")
    return " ".join(parts)
