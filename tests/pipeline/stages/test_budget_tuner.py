"""pipeline/stages/budget_tuner.py: which CPU budget the inference stage keeps, from its real frames."""
import pytest

from engines.threads import CpuBudget
from pipeline.stages.budget_tuner import BudgetTuner

ONE, ONE_SPIN, TWO, TWO_SPIN = CpuBudget(1), CpuBudget(1, True), CpuBudget(2), CpuBudget(2, True)


class FakeEngine:
    def __init__(self, candidates):
        self.candidates, self.used, self.kept = list(candidates), [], None

    def tuning_candidates(self, context):
        self.context = context
        return self.candidates

    def use_budget(self, budget):
        self.used.append(budget)
        self.current = budget

    def keep_budget(self, budget, timings):
        self.kept, self.timings = budget, timings


def drive(engine, cost, frames=200):
    """Run batches of one frame; ``cost[budget]`` = (seconds per frame of the stage cycle, inference ms)."""
    clock = [0.0]
    tuner = BudgetTuner(engine, "wait", window_frames=5, rounds=2, clock=lambda: clock[0])
    for _ in range(frames):
        tuner.batch_started()
        cycle_s, infer_ms = cost[engine.current] if tuner.active else (0.01, 1.0)
        tuner.batch_done(1, infer_ms / 1e3)
        clock[0] += cycle_s
    return tuner


@pytest.mark.parametrize("cost, kept", [
    # fastest alone (two threads, spinning) starves the other stages: the pipeline's rate decides
    ({ONE: (0.014, 13.0), ONE_SPIN: (0.0145, 12.5), TWO: (0.016, 11.0), TWO_SPIN: (0.019, 9.5)}, ONE),
    ({ONE: (0.020, 19.0), ONE_SPIN: (0.020, 18.5), TWO: (0.013, 12.0), TWO_SPIN: (0.011, 10.0)}, TWO_SPIN),
    # a paced (live) source: every budget runs at the camera's rate; the lowest inference time wins
    ({ONE: (0.0333, 13.0), ONE_SPIN: (0.0333, 12.5), TWO: (0.0333, 11.0), TWO_SPIN: (0.0334, 9.5)}, TWO_SPIN),
])
def test_keeps_the_budget_the_pipeline_runs_fastest_with(cost, kept):
    engine = FakeEngine([ONE, ONE_SPIN, TWO, TWO_SPIN])
    tuner = drive(engine, cost)
    assert not tuner.active and engine.kept == kept
    assert set(engine.used) == {ONE, ONE_SPIN, TWO, TWO_SPIN} and len(engine.used) == 8   # 2 rounds
    assert set(engine.timings) == {b.label() for b in (ONE, ONE_SPIN, TWO, TWO_SPIN)}


def test_time_waiting_for_input_counts_against_the_budget():
    """The window closes at the next batch's start: a gap before it (upstream starved) lowers the rate."""
    engine = FakeEngine([ONE, TWO_SPIN])
    clock = [0.0]
    tuner = BudgetTuner(engine, "wait", window_frames=2, rounds=1, clock=lambda: clock[0])
    for _ in range(12):
        tuner.batch_started()
        infer_ms = 12.0 if engine.current == ONE else 8.0
        tuner.batch_done(1, infer_ms / 1e3)
        clock[0] += 0.012 if engine.current == ONE else 0.008 + 0.010    # spinning: 10 ms waiting for input
    assert engine.kept == ONE


@pytest.mark.parametrize("candidates, context, kept", [
    ([], "wait", None),
    ([TWO], "wait", TWO),
    ([ONE, TWO], "latest", None),     # live: drops after this stage would hide a starved downstream
])
def test_nothing_to_try(candidates, context, kept):
    engine = FakeEngine(candidates)
    tuner = BudgetTuner(engine, context)
    assert tuner.schedule == [] and not tuner.active and engine.kept == kept
    tuner.batch_started()
    tuner.batch_done(1, 0.01)


def test_an_engine_without_tuning_is_left_alone():
    tuner = BudgetTuner(object(), "wait")
    tuner.batch_started()
    tuner.batch_done(1, 0.01)
    assert not tuner.active


def test_a_failure_while_preparing_the_candidates_keeps_the_engine_running(caplog):
    class Broken(FakeEngine):
        def tuning_candidates(self, context):
            raise RuntimeError("a candidate session failed its first run")
    engine = Broken([ONE, TWO])
    tuner = BudgetTuner(engine, "wait")
    assert not tuner.active and engine.kept is None and engine.used == []
    assert "keeping the engine-alone choice" in caplog.text
