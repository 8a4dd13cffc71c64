import numpy as np
import pytest

from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy
from pipeline import config
from pipeline.stages.gpu_preprocess import FramePreprocessor, PinnedBuffers, letterbox_in_inference

SPEC = PreprocessSpec(320, 320)


def frames(n=2):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(n)]


def test_cpu_path_equals_the_preprocess_stage():
    batch = FramePreprocessor(SPEC, "cpu")(frames())
    assert batch.shape == (2, 3, 320, 320)
    np.testing.assert_array_equal(batch[1], letterbox_numpy(frames()[1], SPEC)[0])


@pytest.mark.parametrize("choice, device, expected", [("gpu", "auto", True), ("cpu", "cuda:0", False),
                                                      ("auto", "cpu", False), ("inference", "cpu", True)])
def test_choice(choice, device, expected):
    cfg = config.override(config.load(None), {"engine.preprocess_on": choice, "engine.device": device})
    assert letterbox_in_inference(cfg["engine"]) is expected


@pytest.mark.gpu
def test_gpu_path_matches_cpu_within_one_grey_level():
    got = FramePreprocessor(SPEC, "cuda:0")(frames()).cpu().numpy()
    want = FramePreprocessor(SPEC, "cpu")(frames())
    assert got.shape == want.shape and np.abs(got - want).max() <= 1.01 / 255


class FakeEvent:
    """Stands in for torch.cuda.Event: counts record() and synchronize() calls."""
    log: list = []

    def record(self):
        FakeEvent.log.append(("record", id(self)))

    def synchronize(self):
        FakeEvent.log.append(("wait", id(self)))


def fake_buffers():
    FakeEvent.log = []
    return PinnedBuffers(lambda shape: np.zeros(shape, np.uint8), FakeEvent)


def test_each_batch_slot_has_its_own_buffer_per_shape():
    buffers = fake_buffers()
    batch = [buffers.acquire(slot, (480, 640, 3)) for slot in range(3)]
    assert len({id(b) for b in batch}) == 3 and len(buffers) == 3
    assert buffers.acquire(0, (720, 1280, 3)) is not batch[0]
    assert buffers.acquire(0, (480, 640, 3)) is batch[0]       # reused: same slot and shape
    assert len(buffers) == 4


def test_a_buffer_is_reused_only_after_its_copy_has_run():
    buffers = fake_buffers()
    buffers.acquire(0, (4, 4, 3))
    assert FakeEvent.log == []                                   # nothing pending: no wait
    buffers.copy_enqueued(0, (4, 4, 3))
    buffers.acquire(1, (4, 4, 3))                                # another slot: no wait
    assert [kind for kind, _ in FakeEvent.log] == ["record"]
    buffers.acquire(0, (4, 4, 3))
    (_, recorded), (kind, waited) = FakeEvent.log
    assert kind == "wait" and waited == recorded                 # waited for that copy's event
    buffers.acquire(0, (4, 4, 3))
    assert len(FakeEvent.log) == 2                               # an event is waited for once


@pytest.mark.gpu
def test_frames_of_a_batch_do_not_overwrite_each_other_while_copies_are_queued():
    """A busy stream delays the uploads; with one shared buffer every frame of the batch would
    come out as the last one."""
    import torch
    distinct = [np.full((480, 640, 3), 40 * (i + 1), np.uint8) for i in range(4)]
    preprocess = FramePreprocessor(SPEC, "cuda:0")
    for _ in range(3):
        if hasattr(torch.cuda, "_sleep"):
            torch.cuda._sleep(50_000_000)                        # keeps the stream busy
        got = preprocess(distinct).cpu().numpy()
        want = FramePreprocessor(SPEC, "cpu")(distinct)
        assert np.abs(got - want).max() <= 1.01 / 255


@pytest.mark.parametrize("choice, expected", [("inference", True), ("cpu", False)])
def test_the_preprocess_stage_is_told_where_the_letterbox_runs(tmp_path, choice, expected):
    from pipeline.run_plan import build_specs, model_cards
    from pipeline.stages.arguments import stage_arguments
    cfg = config.override(config.load(None), {"engine.preprocess_on": choice})
    specs = build_specs(cfg, tmp_path, "streamdet-test", model_cards(cfg))
    (preprocess,) = [s for s in specs if s.kind == "preprocess"]
    assert stage_arguments(preprocess)["letterbox_in_inference"] is expected
