"""pipeline/tracking/assignment.py: SciPy's solver, imported on a background thread."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment as scipy_solver

from pipeline.tracking import assignment

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_same_pairs_as_scipy_on_square_rectangular_and_tied_matrices():
    rng = np.random.default_rng(7)
    shapes = [(1, 1), (3, 3), (4, 7), (7, 4), (12, 12)]
    for shape in shapes:
        for cost in (rng.random(shape), np.round(rng.random(shape), 1)):   # rounded: many exact ties
            rows, cols = assignment.linear_sum_assignment(cost)
            want_rows, want_cols = scipy_solver(cost)
            np.testing.assert_array_equal(rows, want_rows)
            np.testing.assert_array_equal(cols, want_cols)


def test_preload_starts_one_import_and_returns_before_it_ends():
    """Making a tracker no longer imports SciPy in the stage's own thread: before, importing
    pipeline.tracking.bytetrack imported scipy.optimize at once (0.7-1.1 s of a slow core)."""
    done = run_python("""
        import sys, threading
        from pipeline import config
        from pipeline.tracking import assignment
        from pipeline.tracking.factory import make_tracker_factory
        from pipeline.tracking.bytetrack import ByteTrack
        assert "scipy.optimize" not in sys.modules, "imported with the tracker's module"
        factory = make_tracker_factory(config.validate({}))
        assignment.preload()                 # a second call: still one loader
        loaders = [t for t in threading.enumerate() if t.name == "scipy-import"]
        assert len(loaders) <= 1, loaders
        assert assignment._loaded.wait(60)
        assert "scipy.optimize" in sys.modules
        print("ok", type(factory()).__name__)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "ByteTrack"]


def test_a_missing_scipy_fails_the_first_call_with_one_clear_error():
    done = run_python("""
        import sys
        import numpy as np
        sys.modules["scipy.optimize"] = None          # as if scipy were not installed
        from pipeline.tracking import assignment
        assignment.preload()
        try:
            assignment.linear_sum_assignment(np.zeros((2, 2)))
        except ImportError as exc:
            print("ImportError:", exc)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ImportError: the tracker's assignment needs scipy")


def test_the_postprocess_stage_is_set_up_only_once_scipy_is_imported():
    """On the Xeon VM (2026-12-04) the default run's frames 0-2 came while the import still ran and
    took 30-65 ms against 11 (postprocess 33-40 ms): they alone made the run's p99."""
    done = run_python("""
        import sys
        from engines.detect import Thresholds
        from pipeline import config
        from pipeline.stages.postprocess import PostprocessStage
        from pipeline.tracking import assignment
        from pipeline.tracking.factory import make_tracking
        from tests.pipeline.stages.test_stages import CARD, FakeIO
        cfg = config.override(config.validate({}), {"tracker.name": "bytetrack"})
        stage = PostprocessStage("postprocess", card=CARD, thresholds=Thresholds(), family="yolo",
                                 tracking=make_tracking(cfg))
        stage.setup(FakeIO())
        print("loaded" if assignment._loaded.is_set() and "scipy.optimize" in sys.modules else "not yet")
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["loaded"]
