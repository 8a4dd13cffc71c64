"""engines/ort_parallel.py: several batches side by side on single-thread calls of one session."""
import threading

import numpy as np
import pytest

from engines.onnxruntime_engine import OnnxRuntimeEngine
from engines.ort_parallel import SOLO, ParallelError, check_parallel, resolve_parallel
from engines.threads import usable_cores
from tests.engines.engine_toys import ToyDetector, random_batch


def _engine(tmp_path, **options):
    return OnnxRuntimeEngine(ToyDetector(), device="cpu", cache_root=tmp_path, **options).load()


@pytest.mark.parametrize("value", [0, -1, True, "two", 1.5, None])
def test_a_parallel_value_that_is_not_a_positive_integer_or_auto_is_refused(value):
    with pytest.raises(ParallelError, match="positive integer or 'auto'"):
        check_parallel(value)


@pytest.mark.parametrize("parallel, threads, device, runs", [
    ("auto", "auto", "cpu", usable_cores()),
    ("auto", 2, "cpu", 1),            # explicit threads ask for one intra-op budget: it is kept
    (3, 1, "cpu", 3),
    ("auto", "auto", "cuda:0", 1),    # a GPU runs one batch at a time
    (4, "auto", "cuda:0", 1),
])
def test_how_many_batches_run_at_once(parallel, threads, device, runs):
    assert resolve_parallel(parallel, threads, device) == runs


def test_side_by_side_outputs_match_one_at_a_time(tmp_path):
    engine = _engine(tmp_path, threads=2, parallel=2)
    assert engine.parallel_runs == 2 and engine.meta.cpu_budget["parallel"] == 2
    batches = [random_batch(1, seed=seed) for seed in range(5)]
    futures = [engine.submit(batch) for batch in batches]     # more than two: the rest queue
    for batch, future in zip(batches, futures):
        got, want = future.result(timeout=30), engine.infer(batch)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    engine.close()


def test_the_side_by_side_calls_use_one_thread_each_and_overlap(tmp_path):
    """Both calls must be inside the session at once: a barrier for two would time out otherwise."""
    engine = _engine(tmp_path, threads=2, parallel=2)
    assert engine._solo.get_session_options().intra_op_num_threads == SOLO.intra_op
    both_inside = threading.Barrier(2, timeout=10)
    threads_seen = set()

    def run_session(session, batch):
        threads_seen.add(threading.get_ident())
        both_inside.wait()          # BrokenBarrierError if the two calls ran one after the other
        return {"output0": np.zeros((len(batch), 1), np.float32)}
    engine._run_session = run_session
    futures = [engine.submit(random_batch(1, seed=1)), engine.submit(random_batch(1, seed=2))]
    assert all(len(f.result(timeout=30)["output0"]) == 1 for f in futures)
    assert len(threads_seen) == 2
    engine.close()


def test_no_side_by_side_runs_when_parallel_is_one(tmp_path):
    engine = _engine(tmp_path, threads=1, parallel=1)
    assert engine.parallel_runs == 1 and engine._solo is None
    with pytest.raises(RuntimeError, match="parallel > 1"):
        engine.submit(random_batch(1, seed=1))
    engine.close()


def test_a_batch_of_the_wrong_shape_is_refused_before_it_runs(tmp_path):
    engine = _engine(tmp_path, threads=2, parallel=2)
    with pytest.raises(ValueError, match="batch must be"):
        engine.submit(np.zeros((1, 3, 7, 7), np.float32))
    engine.close()
