"""make_tracking(cfg): the postprocess stage's tracking bank for a run's config."""
from __future__ import annotations

from pipeline.tracking.bank import NoTracking, TrackingBank
from pipeline.tracking.settings import tracker_params, tracker_wanted


def make_tracker_factory(cfg: dict):
    """A ``(next_id=...) -> Tracker`` for the configured tracker (config already validated)."""
    params = tracker_params(cfg)
    from pipeline.tracking import assignment
    from pipeline.tracking.bytetrack import ByteTrack     # the only tracker so far
    assignment.preload()        # SciPy's import runs while the other stages load (tracking/assignment.py)
    return lambda next_id=None: ByteTrack(**params, next_id=next_id)


def make_tracking(cfg: dict) -> TrackingBank | NoTracking:
    if not tracker_wanted(cfg):
        return NoTracking()
    return TrackingBank(make_tracker_factory(cfg))
