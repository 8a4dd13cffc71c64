"""Passers: objects that enter from a border, cross the frame and leave, with stable identities."""
import numpy as np

from pipeline.sources.synthetic import EPOCH_FRAMES, SyntheticScene, SyntheticSource


def ids_over_time(scene: SyntheticScene, frames) -> list[set]:
    return [set(scene.ground_truth(f, masks=False).track_id.tolist()) for f in frames]


def test_objects_enter_and_leave_within_an_epoch():
    entered = left = 0
    for seed in (3, 5, 7):
        seen = ids_over_time(SyntheticScene(seed=seed, passers=True), range(0, EPOCH_FRAMES, 5))
        entered += len(set().union(*seen[1:]) - seen[0])
        left += len(set().union(*seen[:30]) - set().union(*seen[-10:]))   # there before, gone in the last 50
    assert entered >= 3 and left >= 1


def test_passers_overlap_other_objects():
    scene = SyntheticScene(seed=3, passers=True)
    hidden = [scene.ground_truth(f, masks=False).visible_fraction.min() for f in range(0, EPOCH_FRAMES, 10)]
    assert min(hidden) < 0.9


def test_off_by_default_and_the_bouncing_objects_are_unchanged():
    plain, crossing = SyntheticScene(seed=5), SyntheticScene(seed=5, passers=True)
    assert np.array_equal(plain.render(0), SyntheticScene(seed=5).render(0))
    bouncers = plain._object_set(0)
    both = crossing._object_set(0)
    kept = ~both.passer
    assert np.allclose(np.sort(both.radius[kept]), np.sort(bouncers.radius))
    assert both.passer.any()


def test_frame_step_skips_frames():
    source = SyntheticSource(seed=1, max_frames=7, frame_step=3)
    source.open()
    ids = []
    while (frame := source.read()) is not None:
        ids.append(frame.frame_id)
    assert ids == [0, 3, 6]
