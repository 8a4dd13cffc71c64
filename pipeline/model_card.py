"""Resolve the configured model once, into a card every stage rebuilds it from (engines.detectors).

The supervisor calls ``resolve_card`` before it starts the stages. Shipped
models and ONNX files are described without torch, in this process; a torch
weights file or a torchvision checkpoint can only be read with torch, so that
one read happens in a short-lived child process: the supervisor itself never
maps libtorch, and neither do the preprocess and postprocess stages, which
get only the card.
"""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from engines.detectors import TORCHVISION_FAMILIES, from_card, make_detector
from engines.extras import require


def needs_torch_to_describe(name: str, weights: str | None) -> bool:
    if name in TORCHVISION_FAMILIES:
        return True
    return weights is not None and Path(weights).suffix.lower() != ".onnx"


def describe(name: str, weights: str | None, size: str | None) -> dict:
    return make_detector(name, weights, size).card()


def resolve_card(name: str, weights: str | None, size: str | None) -> dict:
    """The card of the detector ``name`` (weights, size as in the config); errors are one line."""
    if not needs_torch_to_describe(name, weights):
        return describe(name, weights, size)
    require("torch", f"model {name!r}" + (f" with weights {weights}" if weights else ""))
    with mp.get_context("spawn").Pool(1) as pool:
        card = pool.apply(describe, (name, weights, size))
    from_card(card)               # checked here, so a bad card fails before any stage starts
    return card
