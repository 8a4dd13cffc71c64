"""The one mapping from a run's config (+ the supervisor's per-stage options) to stage arguments.

Stages take explicit constructor arguments, so a test builds one with plain
values and no YAML, supervisor or sockets; the worker process builds the real
ones with ``make_stage(spec)``.
"""
from __future__ import annotations

import importlib

from engines.detect import Thresholds
from engines.detectors import from_card
from pipeline.stage import Stage, StageSpec
from pipeline.tracking.factory import make_tracking

STAGE_CLASSES = {
    "capture": "pipeline.stages.capture:CaptureStage",
    "preprocess": "pipeline.stages.preprocess:PreprocessStage",
    "inference": "pipeline.stages.inference:InferenceStage",
    "postprocess": "pipeline.stages.postprocess:PostprocessStage",
    "sink": "pipeline.stages.sink:SinkStage",
    "branch": "pipeline.stages.branch:BranchStage",
}
ENGINE_KEYS = ("name", "device", "half", "max_batch", "threads", "parallel")
ENGINE_FLAGS = ("compile", "cuda_graph", "tensorrt_ep")


def engine_options(engine_cfg: dict) -> dict:
    """make_engine keyword arguments from the ``engine`` section (flags only when set)."""
    options = {key: engine_cfg[key] for key in ENGINE_KEYS}
    options.update({key: engine_cfg[key] for key in ENGINE_FLAGS if engine_cfg.get(key)})   # True, or cuda_graph 'auto'
    if engine_cfg.get("spinning") is not None:     # null: the engine measures it (threads auto) or keeps it off
        options["spin"] = engine_cfg["spinning"]
    return options


def thresholds(model_cfg: dict) -> Thresholds:
    return Thresholds(model_cfg["conf_threshold"], model_cfg["iou_threshold"], model_cfg["max_det"])


def stage_arguments(spec: StageSpec) -> dict:
    """Keyword arguments of the stage class of ``spec.kind``, read from its config and options."""
    cfg, opts = spec.config, spec.options
    card = opts.get("model_card")
    if spec.kind == "capture":
        return {"stream": opts["stream"], "source_cfg": opts.get("source") or cfg["source"],
                "index": opts.get("index", 0), "policy": spec.policy, "id_file": opts.get("id_file"),
                "telemetry": opts.get("telemetry"), "inflight": cfg["transport"]["live_inflight"]}
    if spec.kind == "preprocess":
        return {"input_spec": from_card(card).spec,
                "keep_frames": opts.get("keep_frames", False), "letterbox_in_inference": opts.get("letterbox_in_inference", False)}
    if spec.kind == "inference":
        eng = cfg["engine"]
        options = engine_options(eng)
        if eng["name"] == "triton":
            from engines.triton_engine import triton_options
            options.update(triton_options(cfg))
        return {"card": card, "engine": options, "batch_wait_s": eng["batch_wait_ms"] / 1e3}
    if spec.kind == "postprocess":
        return {"card": card, "thresholds": thresholds(cfg["model"]), "family": cfg["model"]["name"],
                "tracking": make_tracking(cfg),
                "branch_cfg": cfg["branch"] if opts.get("branch_endpoint") else None,
                "branch_endpoint": opts.get("branch_endpoint")}
    if spec.kind == "branch":
        branch = cfg["branch"]
        return {"card": card, "family": branch["model"], "conf_threshold": branch["conf_threshold"],
                "engine": {"name": branch["engine"], "device": branch["device"], "threads": branch["threads"]}}
    if spec.kind == "sink":
        return {"publish": cfg["publish"], "sinks": cfg["sinks"], "plugins": cfg.get("plugins", []),
                "allow_remote": cfg["transport"]["allow_remote"], "fps": cfg["source"]["fps"],
                "streams": opts.get("streams", 1), "warmup_frames": opts.get("warmup_frames", 0),
                "summary_path": opts.get("summary_path"), "telemetry": opts.get("telemetry"),
                "preview_fps": cfg["api"]["preview_fps"]}
    raise ValueError(f"unknown stage kind {spec.kind!r}")


def make_stage(spec: StageSpec) -> Stage:
    module, _, cls_name = STAGE_CLASSES[spec.kind].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(spec.name, **stage_arguments(spec))

