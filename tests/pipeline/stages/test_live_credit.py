"""A live stream is thinned at capture: its next frame is taken once the engine is done with the last one.

Before, a capture stage sent every frame a camera gave; with 4 cameras at 60 FPS
~60 % of them were copied, sent and letterboxed only to be dropped at the
inference stage's intake. Real rings and StageIO here; only the source is made up.
"""
import threading
import time

import numpy as np
import pytest
import zmq

from pipeline import config
from pipeline.config import ConfigError
from pipeline.messages import Envelope
from pipeline.shm import SlotRef, SlotRing
from pipeline.sources.base import Frame, Source
from pipeline.stage import Stage, StageIO, StageSpec
from pipeline.stages import capture as capture_module
from pipeline.stages.capture import CaptureStage
from pipeline.stages.preprocess import CREDIT, PreprocessStage
from tests.helpers.wait import wait_until
from tests.pipeline.stages.test_stages import SPEC


class EndlessCamera(Source):
    """A live source that always has a newer frame at once (a camera far faster than the engine);
    it counts the frames read from it."""
    live = True
    frame_shape = (48, 64)

    def open(self) -> None:
        self.next_id = 0

    def read(self, out=None):
        image = np.full((48, 64, 3), self.next_id % 256, np.uint8)
        self.next_id += 1
        return Frame(image=image, frame_id=self.next_id - 1, capture_ts=time.time())


def io_of(name: str, kind: str, prefix: str, policy: str = "latest") -> StageIO:
    spec = StageSpec(name, kind, None, f"ipc:///tmp/{prefix}-{kind}.sock", policy=policy,
                     run_prefix=prefix, nslots=4)
    return StageIO(spec, zmq.Context.instance())


def collecting(io: StageIO) -> list:
    sent = []
    io.sender.send = lambda env, stopping=lambda: False: sent.append(env) or True
    return sent


@pytest.fixture
def capture(monkeypatch, request):
    cameras = []
    monkeypatch.setattr(capture_module, "make_source", lambda cfg, index: cameras.pop())
    prefix = f"streamdet-test-credit-{request.node.name[-20:]}-{time.monotonic_ns() % 10**6}"

    started = []

    def start(inflight: int, live: bool = True):
        camera = EndlessCamera()
        camera.live = live
        cameras.append(camera)
        stage = CaptureStage("capture.cam0", stream="cam0", source_cfg={"max_frames": None},
                             policy="latest", inflight=inflight)
        stage.credit_timeout_s = 60.0           # only a release lets the next frame go in this test
        io = io_of("capture.cam0", "capture", prefix)
        stage.setup(io)
        sent = collecting(io)
        thread = threading.Thread(target=stage.run, daemon=True)
        thread.start()
        started.append((stage, io, thread))
        return stage, io, sent

    yield start
    for stage, io, thread in started:
        stage.stopping = True
        thread.join(5)
        stage.close()
        io.close()


def test_a_live_capture_sends_its_next_frame_only_once_the_last_is_released(capture):
    stage, io, sent = capture(inflight=1)
    wait_until(lambda: len(sent) >= 1, 10, "1 frame(s) sent")
    time.sleep(0.3)
    assert len(sent) == 1                   # the camera had many more; none was copied or sent
    ring = SlotRing.attach(sent[0].arrays["frame"].ring)
    ring.release(sent[0].arrays["frame"].seq)    # what the inference stage does when the frame ran
    wait_until(lambda: len(sent) >= 2, 10, "2 frame(s) sent")
    time.sleep(0.3)
    assert len(sent) == 2 and stage.source.next_id == 2   # read only when it could go: nothing copied to waste
    assert all(env.meta["credit"] is True for env in sent)
    ring.close()


def test_inflight_two_lets_two_frames_be_on_their_way(capture):
    _, _, sent = capture(inflight=2)
    wait_until(lambda: len(sent) >= 2, 10, "2 frame(s) sent")
    time.sleep(0.3)
    assert len(sent) == 2


def test_inflight_zero_sends_every_frame_as_before(capture):
    _, _, sent = capture(inflight=0)
    wait_until(lambda: len(sent) >= 20, 10, "20 frame(s) sent")
    assert "credit" not in sent[0].meta


def test_a_paced_source_that_is_not_live_reuses_its_slots_at_once(capture):
    """The synthetic camera of the default run (newest frame wins, but not live): unchanged."""
    _, _, sent = capture(inflight=1, live=False)
    wait_until(lambda: len(sent) >= 20, 10, "20 frame(s) sent")
    assert "credit" not in sent[0].meta


def test_wait_credit_gives_up_after_its_timeout():
    io = io_of("capture.cam1", "capture", "streamdet-test-credit-timeout")
    arrays = io.alloc({"frame": ((4, 4, 3), np.uint8)})
    io.commit(arrays)                          # seq 0 out, never released
    started = time.monotonic()
    assert io.wait_credit(1, timeout_s=0.05) is False
    assert time.monotonic() - started < 5
    assert io.wait_credit(2, timeout_s=0.05) is True     # one in flight is within a window of two
    io.close()


def frame_ref(prefix: str) -> tuple[StageIO, SlotRef]:
    cap = io_of("capture.cam0", "capture", prefix)
    arrays = cap.alloc({"frame": ((480, 640, 3), np.uint8)})
    arrays["frame"][...] = 90
    return cap, cap.commit(arrays)["frame"]


@pytest.mark.parametrize("marked, keep_frames, credit", [(True, False, True), (None, False, False),
                                                         ("yes", False, False), (True, True, False)])
def test_preprocess_passes_a_waiting_captures_slot_on_as_credit(marked, keep_frames, credit):
    """Only a capture that waits for it gets a credit: any other reuses its slots at once, and a slot
    held past preprocess would then read as overwritten (stale) in the inference stage."""
    prefix = f"streamdet-test-credit-pre-{marked}-{keep_frames}"
    cap, ref = frame_ref(prefix)
    stage = PreprocessStage("preprocess", input_spec=SPEC, keep_frames=keep_frames)
    stage.setup(io_of("preprocess", "preprocess", prefix))
    env = Envelope(stream="cam0", frame_id=0, capture_ts=1.0, width=640, height=480, arrays={"frame": ref})
    env.meta.update(policy="latest", **({} if marked is None else {"credit": marked}))
    out = stage.process(env)
    assert (out.arrays.get(CREDIT) == ref) is credit
    assert ("frame" in out.arrays) is keep_frames
    stage.io.close()
    cap.close()


class Forward(Stage):
    """A stage that passes on only what it made (as the inference stage does with a credit)."""

    def process(self, env):
        return env.forward()


def test_the_stage_that_drops_the_credit_releases_the_capture_slot():
    prefix = "streamdet-test-credit-release"
    cap, ref = frame_ref(prefix)
    stage = Forward("inference")
    stage.setup(io_of("inference", "inference", prefix))
    collecting(stage.io)
    env = Envelope(stream="cam0", frame_id=0, capture_ts=1.0, width=640, height=480, arrays={CREDIT: ref})
    assert cap.wait_credit(1, timeout_s=0.0) is False
    stage._handle([env])
    assert cap.wait_credit(1, timeout_s=0.0) is True
    stage.io.close()
    cap.close()


@pytest.mark.parametrize("inflight", [-1, 8, 100])
def test_live_inflight_outside_0_to_slots_minus_1_is_refused_in_one_line(inflight):
    cfg = config.defaults()
    cfg["transport"]["live_inflight"] = inflight
    with pytest.raises(ConfigError, match="transport.live_inflight"):
        config.validate(cfg, "test")
