"""The live preview wired into the stages: preprocess keeps watched streams' frames, the sink encodes them."""
import cv2
import msgpack
import numpy as np
import zmq

from engines.core.detections import Detections
from pipeline import config
from pipeline.stage import StageSpec
from pipeline.stages.arguments import stage_arguments
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.sink import SinkStage
from tests.helpers.wait import wait_until
from tests.pipeline.stages.fake_io import FakeIO
from tests.pipeline.stages.test_stages import SPEC, attached, frame_envelope

BOX = [100.0, 120.0, 260.0, 300.0]


def test_preprocess_keeps_frames_only_of_watched_streams():
    stage = attached(PreprocessStage("preprocess", input_spec=SPEC))
    assert "frame" not in stage.process(frame_envelope()).arrays
    stage.on_control({"kind": "preview", "streams": ["cam0"]})
    assert stage.process(frame_envelope()).arrays["frame"].shape == (480, 640, 3)
    other = frame_envelope()
    other.stream = "cam1"
    assert "frame" not in stage.process(other).arrays
    stage.on_control({"kind": "preview", "streams": "cam0"})       # malformed: nothing changes
    assert stage.watched == {"cam0"}
    stage.on_control({"kind": "preview", "streams": []})            # nobody watches any more
    assert "frame" not in stage.process(frame_envelope()).arrays


def test_sink_preview_fps_comes_from_the_api_section():
    cfg = config.override(config.load(None), {"api.preview_fps": 4}, "test")
    spec = StageSpec("sink", "sink", "ipc:///tmp/x", None, config=cfg, options={"telemetry": "ipc:///tmp/t"})
    assert stage_arguments(spec)["preview_fps"] == 4


def sink_with_telemetry(tmp_path, preview_fps):
    defaults = config.defaults()
    return SinkStage("sink", publish=dict(defaults["publish"], endpoint=f"ipc://{tmp_path}/pub.sock"),
                     sinks=dict(defaults["sinks"], status=False), plugins=[], allow_remote=False, fps=30,
                     telemetry=f"ipc://{tmp_path}/telemetry.sock", preview_fps=preview_fps)


def boxed_envelope(frame_id):
    env = frame_envelope(frame_id)
    env.arrays["frame"] = np.full((480, 640, 3), 90, np.uint8)
    env.detections = Detections([BOX], [0.9], [0])
    env.stamp("capture", 1.0, 1.001)
    return env


def drain(pull) -> list[dict]:
    out = []
    while pull.poll(50):
        out.append(msgpack.unpackb(pull.recv()))
    return out


def test_sink_sends_annotated_jpegs_of_watched_streams_beside_its_reports(tmp_path):
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.bind(f"ipc://{tmp_path}/telemetry.sock")
    stage = sink_with_telemetry(tmp_path, preview_fps=50)
    stage.setup(FakeIO())
    got = []
    try:
        for i in range(5):
            stage.process(boxed_envelope(i))
        got += drain(pull)
        assert {m["kind"] for m in got} == {"sink"} and stage.preview.tap.encoded == 0   # nobody watches
        stage.on_control({"kind": "preview", "streams": ["cam0"]})
        frames = []

        def preview_arrived():
            stage.process(boxed_envelope(len(got)))
            got.extend(drain(pull))
            frames[:] = [m for m in got if m["kind"] == "preview_frame"]
            return frames
        wait_until(preview_arrived, 20, "a preview frame")
    finally:
        stage.close()
        pull.close(0)
    message = frames[0]
    assert message["stage"] == "sink" and message["stream"] == "cam0"
    image = cv2.imdecode(np.frombuffer(message["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    left_edge = image[200, 98:103].astype(int)
    assert (np.abs(left_edge - 90) > 60).any(), "no box drawn at the detection's left edge"
    assert (np.abs(image[400, 500].astype(int) - 90) < 10).all()     # background untouched


def test_sink_without_telemetry_has_no_preview(tmp_path):
    defaults = config.defaults()
    stage = SinkStage("sink", publish=dict(defaults["publish"], endpoint=f"ipc://{tmp_path}/pub.sock"),
                      sinks=dict(defaults["sinks"], status=False), plugins=[], allow_remote=False, fps=30,
                      preview_fps=10)
    stage.setup(FakeIO())
    stage.on_control({"kind": "preview", "streams": ["cam0"]})
    stage.process(boxed_envelope(0))
    stage.close()
    assert stage.preview is None


class IdleReceiver:
    """Nothing arrives: the sink's loop turns without frames."""

    def recv(self, timeout_ms=0):
        return []

    def take_discarded(self):
        return []


def test_an_idle_sink_loop_sends_the_jpeg_encoded_after_the_last_frame(tmp_path):
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.bind(f"ipc://{tmp_path}/telemetry.sock")
    stage = sink_with_telemetry(tmp_path, preview_fps=10)
    io = FakeIO()
    io.receiver = IdleReceiver()
    stage.setup(io)
    got = []
    try:
        stage.on_control({"kind": "preview", "streams": ["cam0"]})
        stage.process(boxed_envelope(0))           # the only frame: encoded on the encoder thread
        wait_until(lambda: stage.preview.tap.encoded == 1, 20, "the frame encoded")

        def sent():
            stage.run_once()
            got.extend(m for m in drain(pull) if m["kind"] == "preview_frame")
            return got
        wait_until(sent, 20, "the JPEG sent without another frame")
    finally:
        stage.close()
        pull.close(0)
    assert got[0]["stream"] == "cam0" and got[0]["jpeg"].startswith(b"\xff\xd8")
