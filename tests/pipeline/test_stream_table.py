"""The supervisor's stream table: reports applied after validation, the snapshot's exact shape."""
from pipeline.stream_table import StreamTable
from pipeline.telemetry import Histogram

ENTRY = {"name": "door", "uri": "rtsp://admin:hunter2@10.0.0.5/live"}


def table():
    t = StreamTable({"model": "yolo", "engine": "auto", "device": "auto"})
    t.add(dict(ENTRY))
    return t


def capture_report(**fields):
    return {"kind": "capture", "stage": "capture.door", "stream": "door", "state": "live", "frames": 10,
            "dropped": 2, "reconnects": 1, "last_frame_ts": 1700000000.5, **fields}


def sink_report(**fields):
    h = Histogram()
    h.observe(0.02)
    return {"kind": "sink", "stage": "sink",
            "streams": {"door": {"frames": 9, "fps": 24.5, "dropped_by_stage": {"inference": 3},
                                 "last_frame_ts": 1700000001.0}},
            "ended": [], "stages": {"inference": {"failed": 1, "malformed": 0}},
            "info": {"model": "yolo", "engine": "onnxruntime", "device": "cpu"},
            "histograms": {"stage_latency_seconds": {"inference": h.to_dict()},
                           "end_to_end_latency_seconds": {"door": h.to_dict(), "gone": h.to_dict()},
                           "inference_batch_size": {"all": h.to_dict()}}, **fields}


def test_snapshot_has_exactly_the_documented_shape():
    t = table()
    t.apply(capture_report())
    t.apply(sink_report())
    snap = t.snapshot({"capture.door": 2, "sink": 0})
    assert set(snap) == {"streams", "stages", "histograms", "info"}
    door = snap["streams"]["door"]
    assert door == {"uri": "rtsp://admin:***@10.0.0.5/live", "state": "live", "fps": 24.5, "frames": 9,
                    "dropped": 5, "dropped_by_stage": {"inference": 3, "capture": 2}, "reconnects": 1,
                    "last_frame_ts": 1700000001.0, "up": True}
    assert snap["stages"]["capture.door"] == {"restarts": 2, "failed": 0, "malformed": 0}
    assert snap["stages"]["inference"] == {"restarts": 0, "failed": 1, "malformed": 0}
    assert set(snap["histograms"]) == {"stage_latency_seconds", "end_to_end_latency_seconds",
                                       "inference_batch_size"}
    assert list(snap["histograms"]["end_to_end_latency_seconds"]) == ["door"]   # removed streams left out
    assert snap["histograms"]["inference_batch_size"]["all"]["buckets"][-1] == ["+Inf", 1]
    assert snap["info"] == {"model": "yolo", "engine": "onnxruntime", "device": "cpu"}


def test_bad_reports_are_counted_and_change_nothing():
    t = table()
    for bad in (capture_report(state="exploded"), capture_report(dropped=-1), capture_report(dropped="2"),
                sink_report(streams={"door": {"frames": "9"}}), sink_report(ended="door"),
                sink_report(histograms={"inference_batch_size": {"all": {"buckets": []}}}),
                {"kind": "ack", "stage": "sink", "seq": "x"}):
        t.apply(bad)
    assert t.malformed == 7
    door = t.snapshot({})["streams"]["door"]
    assert door["state"] == "starting" and door["frames"] == 0 and t.acked_seq == -1


def test_a_capture_cannot_report_for_another_stream():
    t = table()
    t.apply(capture_report(stage="capture.other"))
    assert t.snapshot({})["streams"]["door"]["state"] == "starting"


def test_end_of_stream_from_the_sink_wins_over_later_capture_reports():
    t = table()
    t.apply(sink_report(ended=["door"]))
    t.apply(capture_report(state="live"))
    assert t.snapshot({})["streams"]["door"]["state"] == "ended"


def test_offline_streams_come_due_for_a_retry():
    t = table()
    record = t.get("door")
    record.state, record.retry_at = "offline", 100.0
    assert t.offline_due(99.0) == [] and t.offline_due(100.0) == ["door"]
