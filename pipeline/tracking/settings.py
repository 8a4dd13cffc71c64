"""The ``tracker:`` config section (keys, types, defaults) and the choice of tracker for a run.

Kept free of heavy imports: pipeline/config.py reads the schema from here.
``name: auto`` tracks live sources (webcams, network streams) and not files,
the synthetic camera or benchmarks; ``bytetrack`` or ``none`` force it.
"""
from __future__ import annotations

NUMBER = (int, float)
TRACKERS = ("auto", "bytetrack", "none")

# key -> (accepted types, default, allowed values or None), as pipeline/config.py SCHEMA
TRACKER_SCHEMA: dict[str, tuple] = {
    "name": (str, "auto", TRACKERS),
    "high_threshold": (NUMBER, 0.4, None),        # first association: detections scored >= this
    "low_threshold": (NUMBER, 0.1, None),         # second association: scores in [low, high)
    "new_track_threshold": (NUMBER, 0.6, None),   # an unmatched detection starts a track from this score
    "match_iou": (NUMBER, 0.2, None),             # minimum IoU of a match, first association
    "low_match_iou": (NUMBER, 0.5, None),         # second association
    "tentative_match_iou": (NUMBER, 0.3, None),   # confirming a track seen once
    "max_lost_frames": (int, 60, None),           # frames (by frame id) a lost track is kept
    "min_hits": (int, 1, None),                   # detections before a track gets an id
    "class_mismatch_factor": (NUMBER, 0.5, None), # a box of another class: IoU scaled by this among the pairs
                                                  # over the gate (0: never a match)
    "duplicate_iou": (NUMBER, 0.7, None),         # a box overlapping a matched box this much: no new track,
                                                  # no lost track, no low-score match
    "lost_buffer": (NUMBER, 0.03, None),          # a lost track's box widens by this fraction per frame unseen
    "class_memory": (NUMBER, 0.9, None),          # a track's class votes decay by this per match (0: last class only)
    "occlusion_iou": (NUMBER, 0.2, None),         # a matched box overlapping another track's prediction this much
                                                  # keeps the track's velocity (1: off)
}
UNIT_KEYS = ("high_threshold", "low_threshold", "new_track_threshold", "match_iou",
             "low_match_iou", "tentative_match_iou", "class_mismatch_factor", "duplicate_iou", "lost_buffer",
             "class_memory", "occlusion_iou")


def check_tracker(section: dict) -> str | None:
    """The first problem of a merged ``tracker`` section as 'key: message', or None."""
    for key in UNIT_KEYS:
        if not 0 <= section[key] <= 1:
            return f"tracker.{key}: expected a number in [0, 1], got {section[key]!r}"
    if section["low_threshold"] > section["high_threshold"]:
        return (f"tracker.low_threshold: expected <= tracker.high_threshold "
                f"({section['high_threshold']}), got {section['low_threshold']!r}")
    if section["max_lost_frames"] < 0:
        return f"tracker.max_lost_frames: expected >= 0, got {section['max_lost_frames']!r}"
    if section["min_hits"] < 1:
        return f"tracker.min_hits: expected >= 1, got {section['min_hits']!r}"
    return None


def tracker_wanted(cfg: dict) -> bool:
    """Does this run track? ``auto``: only live sources."""
    name = cfg["tracker"]["name"]
    if name != "auto":
        return name != "none"
    from pipeline.sources.factory import is_live_source
    entries = [dict(cfg["source"], **entry) for entry in cfg.get("sources") or []] or [cfg["source"]]
    return any(is_live_source(entry) for entry in entries)


def tracker_params(cfg: dict) -> dict:
    """Constructor arguments of the configured tracker (every key but ``name``)."""
    return {k: v for k, v in cfg["tracker"].items() if k != "name"}
