"""engines/ort_tuning.py: sessions per CPU budget for tuning in a pipeline, and the cached choice."""
import pytest

from engines import threads as th
from engines.onnxruntime_engine import OnnxRuntimeEngine
from engines.threads import CpuBudget
from tests.engines.engine_toys import ToyDetector, random_batch


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path / "cache"))


def _ort(tmp_path, **options):
    return OnnxRuntimeEngine(ToyDetector(), device="cpu", cache_root=tmp_path, **options).load()


def test_tuning_offers_every_candidate_runs_each_and_caches_the_kept_one(tmp_path):
    engine = _ort(tmp_path, threads="auto")
    candidates = engine.tuning_candidates("wait")
    assert candidates == th.ort_candidates()
    for budget in candidates:
        engine.use_budget(budget)
        options = engine.session.get_session_options()
        assert options.intra_op_num_threads == budget.intra_op
        assert engine.infer(random_batch(1))["output0"].shape[0] == 1
    kept = candidates[0]
    engine.keep_budget(kept, {kept.label(): {"fps": 50.0, "inference_ms": 3.0}})
    assert engine.meta.cpu_budget["source"] == "pipeline tuned" and engine.meta.cpu_budget["intra_op"] == kept.intra_op
    assert engine.cached_pipeline_budget("wait")["intra_op"] == kept.intra_op
    assert engine.cached_pipeline_budget("latest") is None              # another context tunes on its own
    again = _ort(tmp_path, threads="auto")
    assert again.tuning_candidates("wait") == []                         # chosen before: used, not tried again
    assert again.budget == kept and again.meta.cpu_budget["source"] == "pipeline cache"
    assert again.session.get_session_options().intra_op_num_threads == kept.intra_op
    assert again.infer(random_batch(1))["output0"].shape[0] == 1


@pytest.mark.parametrize("options", [{"threads": 1}, {"threads": 2, "spin": True}])
def test_explicit_threads_are_never_tuned(tmp_path, options):
    engine = _ort(tmp_path, **options)
    assert engine.tuning_candidates("wait") == [] and engine.cached_pipeline_budget("wait") is None
    assert engine.budget == CpuBudget(options["threads"], options.get("spin", False))


def test_a_session_is_warmed_at_the_detector_size_when_the_model_leaves_it_symbolic():
    """A dynamic Ultralytics export has input [batch, 3, height, width] all symbolic: warming with a
    1x1 image failed inside the model (Concat of mismatched dimensions) and the stage crash-looped."""
    class Input:
        name, type, shape = "images", "tensor(float)", ["batch", 3, "height", "width"]

    class Session:
        def get_inputs(self):
            return [Input()]

        def run(self, names, feed):
            self.fed = feed["images"].shape

    class Spec:
        height, width = 320, 256

    engine = OnnxRuntimeEngine.__new__(OnnxRuntimeEngine)
    engine.detector = type("Detector", (), {"spec": Spec()})()
    session = Session()
    assert engine._warm(session) is session and session.fed == (1, 3, 320, 256)
