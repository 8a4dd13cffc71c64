"""The bench's baselines are built with the run's own engine settings."""
from pipeline import config
from pipeline.bench.baselines import _detector_and_engine


def test_the_bare_engine_gets_the_runs_engine_flags():
    """On the H200 (2026-12-04) the CUDA-graph run's 'bare engine' ran without graphs (112 FPS against
    the pipeline's 371), because the baselines dropped engine.cuda_graph / compile / tensorrt_ep."""
    cfg = config.override(config.load(None), {"engine.name": "torch", "engine.device": "cpu",
                                              "engine.cuda_graph": True})
    _, engine = _detector_and_engine(cfg)
    try:
        assert "cuda_graph ignored on CPU" in engine.meta.notes
    finally:
        engine.close()
