"""Tests for engines/threads.py and threads='auto' in the ONNX Runtime and torch engines."""
import json

import pytest
import torch

from engines import threads as th
from engines.onnxruntime_engine import OnnxRuntimeEngine
from engines.threads import AUTO, CpuBudget
from engines.torch_engine import TorchEngine
from tests.engines.engine_toys import ToyDetector, random_batch


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path / "cache"))


class FakeClock:
    """perf_counter that only moves when a fake inference 'runs' for its cost."""
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def runner(self, cost_ms):
        def run():
            self.now += cost_ms / 1e3
        return run


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True, None])
def test_check_threads_rejects_what_is_not_a_positive_int_or_auto(value):
    with pytest.raises(th.ThreadsError, match="positive integer or 'auto'"):
        th.check_threads(value)


def test_check_threads_accepts_ints_and_auto():
    assert th.check_threads(3) == 3 and th.check_threads("auto") == "auto"


def test_threads_option_keeps_text_for_the_config_check():
    assert th.threads_option("4") == 4 and th.threads_option("-2") == -2 and th.threads_option("x") == "x"


@pytest.mark.parametrize("cores, want", [(1, [1]), (2, [1, 2]), (8, [1, 7, 8])])
def test_thread_candidates(cores, want):
    assert th.thread_candidates(cores) == want


def test_ort_candidates_cover_spinning_both_ways():
    assert th.ort_candidates(2) == [CpuBudget(1, False), CpuBudget(1, True), CpuBudget(2, False), CpuBudget(2, True)]


def test_calibrate_picks_the_fastest_candidate(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(th.time, "perf_counter", clock)
    cost = {CpuBudget(1): 10.0, CpuBudget(2): 6.0, CpuBudget(2, True): 5.0, CpuBudget(1, True): 9.0}
    best, timings = th.calibrate(list(cost), lambda budget: clock.runner(cost[budget]))
    assert best == CpuBudget(2, True)
    assert timings == {budget.label(): ms for budget, ms in cost.items()}


def test_calibrate_prefers_steady_speed_over_a_lucky_moment(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(th.time, "perf_counter", clock)
    calls = {"fast": 0}

    def make_runner(budget):
        if budget.intra_op == 1:
            return clock.runner(8.0)

        def run():      # 3 ms once, when the cores happened to be free; 20 ms otherwise
            calls["fast"] += 1
            clock.now += (3.0 if calls["fast"] == 2 else 20.0) / 1e3
        return run
    best, timings = th.calibrate([CpuBudget(1), CpuBudget(2)], make_runner)
    assert best == CpuBudget(1) and timings[CpuBudget(2).label()] == 20.0


def test_choice_is_cached_and_reused_without_calibrating(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(th.time, "perf_counter", clock)
    made = []

    def make_runner(budget):
        made.append(budget)
        return clock.runner(3.0 if budget.intra_op == 2 else 7.0)
    candidates = [CpuBudget(1), CpuBudget(2)]
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    first, info = th.choose_budget("onnxruntime", "abc", ("x",), candidates, make_runner)
    assert first == CpuBudget(2) and info["source"] == "calibrated" and made
    made.clear()
    again, info = th.choose_budget("onnxruntime", "abc", ("x",), candidates, make_runner)
    assert again == first and info["source"] == "cache" and made == []
    other, info = th.choose_budget("onnxruntime", "other-model", ("x",), candidates, make_runner)
    assert info["source"] == "calibrated" and made           # another model file: its own entry


def test_a_broken_or_foreign_cache_entry_is_ignored(monkeypatch):
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    key = th.cache_key("onnxruntime", "m", ())
    th.cache_dir().mkdir(parents=True)
    (th.cache_dir() / f"{key}.json").write_text("{not json")
    assert th.load_cached(key) is None
    (th.cache_dir() / f"{key}.json").write_text(json.dumps({"intra_op": 16, "spinning": True}))
    assert th.load_cached(key) is None                         # more threads than this machine has
    (th.cache_dir() / f"{key}.json").write_text(json.dumps({"intra_op": 2, "spinning": True}))
    assert th.load_cached(key) == CpuBudget(2, True)


def test_stage_thread_env():
    assert th.stage_thread_env("inference", 3) == {"OMP_NUM_THREADS": "3"}
    assert th.stage_thread_env("inference", AUTO) == {"OMP_NUM_THREADS": str(th.usable_cores())}
    assert th.stage_thread_env("preprocess", AUTO) == {"OMP_NUM_THREADS": "1"}
    assert th.stage_thread_env("capture", 4) == {"OMP_NUM_THREADS": "1"}


def test_opencv_gets_one_thread_outside_inference():
    import cv2
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)
        th.limit_opencv_threads("inference")
        assert cv2.getNumThreads() == 4
        th.limit_opencv_threads("preprocess")
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)


# -- the engines ---------------------------------------------------------------------------------
def _ort(tmp_path, **options):
    return OnnxRuntimeEngine(ToyDetector(), device="cpu", cache_root=tmp_path, **options).load()


def test_onnxruntime_auto_calibrates_applies_and_then_reads_the_cache(tmp_path):
    engine = _ort(tmp_path, threads="auto")
    budget = engine.meta.cpu_budget
    assert budget["source"] == "calibrated" and budget["threads"] == "auto"
    assert set(budget["timings_ms"]) == {c.label() for c in th.ort_candidates()}
    options = engine.session.get_session_options()
    assert options.intra_op_num_threads == budget["intra_op"]
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if budget["spinning"] else "0")
    assert any("CPU:" in note and "calibrated" in note for note in engine.meta.notes)
    assert engine.infer(random_batch(1))["output0"].shape[0] == 1
    again = _ort(tmp_path, threads="auto")
    assert again.meta.cpu_budget["source"] == "cache"
    assert again.meta.cpu_budget["intra_op"] == budget["intra_op"]


def test_onnxruntime_explicit_spin_limits_the_calibration_to_thread_counts(tmp_path):
    engine = _ort(tmp_path, threads="auto", spin=False)
    assert engine.meta.cpu_budget["spinning"] is False
    assert all("spinning off" in label for label in engine.meta.cpu_budget["timings_ms"])


def test_onnxruntime_explicit_threads_win(tmp_path):
    engine = _ort(tmp_path, threads=1, spin=True)
    assert engine.meta.cpu_budget == {"threads": 1, "source": "config", "intra_op": 1, "spinning": True,
                                      "inter_op": 1, "parallel": 1}
    assert engine.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_torch_auto_sets_the_calibrated_thread_count():
    before = torch.get_num_threads()
    try:
        engine = TorchEngine(ToyDetector(), device="cpu", threads="auto").load()
        budget = engine.meta.cpu_budget
        assert budget["source"] == "calibrated"
        assert torch.get_num_threads() == budget["intra_op"]
        assert TorchEngine(ToyDetector(), device="cpu", threads="auto").load().meta.cpu_budget["source"] == "cache"
    finally:
        torch.set_num_threads(before)


def _calibrate_twice(monkeypatch, one_ms, all_ms):
    """choose_budget twice on fake inferences of 1 thread: one_ms, 2 threads: all_ms -> (infos, calls)."""
    clock = FakeClock()
    monkeypatch.setattr(th.time, "perf_counter", clock)
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    made = []

    def make_runner(budget):
        made.append(budget)
        return clock.runner(one_ms if budget.intra_op == 1 else all_ms)
    infos = [th.choose_budget("onnxruntime", "m", (), th.ort_candidates(2), make_runner)[1] for _ in range(2)]
    return infos, made


def test_a_calibration_on_busy_cores_is_used_but_not_cached(monkeypatch, caplog):
    """2 threads no faster than 1 on a 270 ms network: the cores were not free. Before, that choice
    (1 thread) was cached and every later start ran at about half the speed of 2 threads."""
    infos, made = _calibrate_twice(monkeypatch, one_ms=274.0, all_ms=279.0)
    assert infos[0]["intra_op"] == 1 and infos[0]["cached"] is False and infos[0]["thread_scaling"] == 0.982
    assert infos[1]["source"] == "calibrated"                  # the next start measures again
    assert len(made) == 8 and not list(th.cache_dir().glob("*.json"))
    assert "cores were busy while calibrating" in caplog.text


def test_a_calibration_that_scales_is_cached(monkeypatch):
    infos, made = _calibrate_twice(monkeypatch, one_ms=268.0, all_ms=145.0)
    assert infos[0]["intra_op"] == 2 and infos[0]["cached"] is True and infos[0]["thread_scaling"] == 1.848
    assert infos[1]["source"] == "cache" and len(made) == 4


def test_a_tiny_network_that_does_not_scale_is_still_cached(monkeypatch):
    infos, made = _calibrate_twice(monkeypatch, one_ms=0.8, all_ms=0.9)
    assert infos[0]["intra_op"] == 1 and infos[0]["cached"] is True and infos[1]["source"] == "cache"


def test_thread_scaling_takes_each_count_at_its_better_spinning():
    timings = {"1 thread(s), spinning off": 70.0, "1 thread(s), spinning on": 60.0,
               "2 thread(s), spinning off": 40.0, "2 thread(s), spinning on": 30.0}
    assert th.thread_scaling(th.ort_candidates(2), timings) == 2.0
    assert th.thread_scaling([CpuBudget(1)], {"1 thread(s), spinning off": 5.0}) is None
