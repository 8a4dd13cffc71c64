"""pipeline/stages/arguments.py: what the inference stage is built with, from the config."""
import pytest

from pipeline import config
from pipeline.run_plan import build_specs, model_cards
from pipeline.stages.arguments import stage_arguments


def inference_arguments(tmp_path, overrides: dict) -> dict:
    cfg = config.override(config.load(None), overrides)
    specs = build_specs(cfg, tmp_path, "streamdet-test", model_cards(cfg))
    (inference,) = [s for s in specs if s.kind == "inference"]
    return stage_arguments(inference)["engine"]


@pytest.mark.parametrize("spinning, spin", [(True, True), (False, False)])
def test_engine_spinning_reaches_the_engine(tmp_path, spinning, spin):
    """engine.spinning (--spinning) was read from the config but never handed to the engine."""
    assert inference_arguments(tmp_path, {"engine.spinning": spinning})["spin"] is spin


def test_unset_spinning_leaves_the_engine_its_own_choice(tmp_path):
    assert "spin" not in inference_arguments(tmp_path, {})
