import math

from pipeline.messages import Envelope, stage_latencies_ms
from pipeline.metrics import Metrics, format_summary, percentiles


def env_with(t0, durations, gap=0.001, counts=None):
    env = Envelope(capture_ts=t0, meta={"counts": counts or {}})
    t = t0
    for stage, d in durations:
        env.stamp(stage, t, t + d)
        t += d + gap
    return env, t


def test_stage_latencies_read_off_stamps():
    env, _ = env_with(100.0, [("capture", 0.002), ("preprocess", 0.004), ("inference", 0.010)])
    lat = stage_latencies_ms(env.stamps)
    assert math.isclose(lat["preprocess"], 4.0, abs_tol=1e-6)
    assert math.isclose(lat["capture->preprocess"], 1.0, abs_tol=1e-6)
    assert math.isclose(lat["preprocess->inference"], 1.0, abs_tol=1e-6)
    assert set(lat) == {"capture", "preprocess", "inference", "capture->preprocess", "preprocess->inference"}


def test_percentiles_of_known_values():
    p = percentiles(list(range(1, 101)))
    assert (p["p50_ms"], p["n"]) == (50.5, 100) and 95 <= p["p95_ms"] <= 96 and 99 <= p["p99_ms"] <= 100
    assert percentiles([])["p50_ms"] is None      # JSON null, never NaN in result files


def test_summary_counts_fps_drops_and_latency():
    m = Metrics()
    for i in range(11):
        env, t_end = env_with(1000.0 + i * 0.1, [("capture", 0.001), ("inference", 0.005)],
                              counts={"preprocess": {"dropped": i, "stale": 1}, "inference": {"dropped": 2}})
        m.add(env, t_end - 0.0005, t_end)
    s = m.summary()
    assert s["frames"] == 11 and math.isclose(s["fps"], 10.0, rel_tol=1e-6)
    assert s["dropped"] == 10 + 2 and s["stale"] == 1        # latest counters per stage, summed
    assert math.isclose(s["end_to_end"]["p50_ms"], 8.0, abs_tol=1e-3)   # 1 + 1 + 5 + 1 ms
    assert s["stages"]["sink"]["p50_ms"] == 0.5
    assert math.isclose(s["stages"]["inference->sink"]["p50_ms"], 0.5, abs_tol=1e-3)
    assert len(s["timeline"]) == 11 and s["timeline"][0][0] == 0.0
    table = format_summary(s)
    assert "end_to_end" in table and "inference" in table and "dropped 12" in table
