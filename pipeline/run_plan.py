"""What processes a run has: one StageSpec per stage (endpoints, policies, options, model cards).

Built from the config before anything starts; the supervisor spawns them and
the stream manager adds capture specs for streams added at runtime.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.model_card import resolve_card
from pipeline.source_list import stream_sources
from pipeline.sources.factory import is_live_source
from pipeline.stage import StageSpec
from pipeline.stages.gpu_preprocess import letterbox_in_inference
from pipeline.telemetry import control_endpoint, telemetry_endpoint

CHAIN = ("preprocess", "inference", "postprocess", "sink")


def runs_here(spec: StageSpec, stages: list) -> bool:
    """``supervisor.stages`` splits a pipeline over hosts: e.g. [capture, preprocess] on one."""
    return not stages or spec.kind in stages or spec.name in stages


def stream_policy(cfg: dict, entry: dict) -> str:
    """A stream's own policy: the configured one, else latest for a live source, wait for the others."""
    policy = cfg["transport"]["policy"]
    if policy != "auto":
        return policy
    return "latest" if is_live_source(entry) else "wait"


def hop_policy(cfg: dict) -> str:
    """The shared hops' policy: newest frame wins as soon as one stream is live."""
    policies = {stream_policy(cfg, entry) for entry in stream_sources(cfg)}
    return "latest" if "latest" in policies else "wait"


def capture_spec(cfg: dict, entry: dict, run_dir: Path, prefix: str) -> StageSpec:
    """The capture stage of one stream. A file keeps its no-drop policy on its own hop."""
    t = cfg["transport"]
    return StageSpec(f"capture.{entry['name']}", "capture", None, stage_endpoints(cfg, run_dir)["preprocess"],
                     policy=stream_policy(cfg, entry), hwm=t["hwm"], run_prefix=prefix, nslots=t["slots"],
                     allow_remote=t["allow_remote"], config=cfg,
                     options={"stream": entry["name"], "source": entry, "telemetry": telemetry_endpoint(run_dir),
                              "id_file": str(run_dir / f"{entry['name']}.frame_id")})


def stage_endpoints(cfg: dict, run_dir: Path) -> dict[str, str]:
    """The endpoint each downstream stage binds: config overrides, else ipc or tcp defaults."""
    transport = cfg["transport"]
    endpoints = {}
    for i, stage in enumerate(CHAIN + ("branch",)):
        if transport["mode"] == "tcp":
            endpoints[stage] = f"tcp://127.0.0.1:{transport['base_port'] + i}"
        else:
            endpoints[stage] = f"ipc://{run_dir}/{stage}.sock"
    endpoints.update(transport["endpoints"])
    return endpoints


def model_cards(cfg: dict) -> dict[str, dict]:
    """The fast path's model card (and the side branch's): resolved once, before any stage starts."""
    model, branch = cfg["model"], cfg["branch"]
    cards = {"model": resolve_card(model["name"], model["weights"], model["size"])}
    if branch["model"]:
        cards["branch"] = resolve_card(branch["model"], branch["weights"], branch["size"])
    return cards


def build_specs(cfg: dict, run_dir: Path, prefix: str, cards: dict[str, dict]) -> list[StageSpec]:
    eps, policy, t = stage_endpoints(cfg, run_dir), hop_policy(cfg), cfg["transport"]
    sources = stream_sources(cfg)
    streams = len(sources)
    common = dict(policy=policy, hwm=t["hwm"], run_prefix=prefix, nslots=t["slots"],
                  allow_remote=t["allow_remote"], config=cfg)
    specs = [capture_spec(cfg, entry, run_dir, prefix) for entry in sources]
    outputs = dict(zip(CHAIN, CHAIN[1:] + (None,)))
    for stage in CHAIN:
        out = eps[outputs[stage]] if outputs[stage] else None
        options = {"model_card": cards["model"]} if stage != "sink" else {}
        specs.append(StageSpec(stage, stage, eps[stage], out, options=options, **common))
    branch = bool(cfg["branch"]["model"])
    specs[streams].options["keep_frames"] = bool(cfg["sinks"]["video"]) or branch
    specs[streams].options["letterbox_in_inference"] = letterbox_in_inference(cfg["engine"])
    specs[-1].options.update(streams=streams, summary_path=str(run_dir / "summary.json"))
    if branch:   # newest frame wins on the way in; results join the sink's input
        specs[-2].options["branch_endpoint"] = eps["branch"]
        specs.append(StageSpec("branch", "branch", eps["branch"], eps["sink"],
                               options={"model_card": cards["branch"]}, **dict(common, policy="latest")))
    for spec in specs[streams:]:
        spec.options.update(stream_names=[e["name"] for e in sources], control=control_endpoint(run_dir))
    specs[-1 - branch].options["telemetry"] = telemetry_endpoint(run_dir)
    return specs
