"""engine.spinning reaches the ONNX Runtime session (explicit settings win over 'auto')."""
import pytest

from pipeline import config
from pipeline.bench.baselines import _detector_and_engine


@pytest.mark.parametrize("spinning", [True, False])
def test_engine_spinning_from_config(spinning):
    cfg = config.override(config.load(None), {"engine.name": "onnxruntime", "engine.device": "cpu",
                                              "engine.threads": 1, "engine.spinning": spinning}, "test")
    _, engine = _detector_and_engine(cfg)
    try:
        assert engine.meta.cpu_budget["spinning"] is spinning and engine.meta.cpu_budget["source"] == "config"
        entry = engine.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
        assert entry == ("1" if spinning else "0")
    finally:
        engine.close()


def test_spinning_must_be_a_bool_or_null():
    with pytest.raises(config.ConfigError, match="engine.spinning"):
        config.override(config.load(None), {"engine.spinning": "fast"})


@pytest.mark.parametrize("argv, spinning, parallel", [
    (["--spinning", "off", "--parallel", "1"], False, 1),
    (["--spinning", "on", "--parallel", "auto"], True, "auto"),
    ([], None, "auto"),
])
def test_bench_engine_flags_reach_its_config(argv, spinning, parallel):
    """bench --spinning was parsed and then never put in the config."""
    import argparse

    from pipeline.bench.options import add_bench_options
    from pipeline.bench.pipeline_bench import _base_config
    parser = argparse.ArgumentParser()
    add_bench_options(parser)
    engine = _base_config(parser.parse_args(argv))["engine"]
    assert (engine["spinning"], engine["parallel"]) == (spinning, parallel)
