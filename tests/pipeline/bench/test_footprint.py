"""The real default run and an ONNX-model run: no process of the pipeline maps libtorch."""
from pathlib import Path

import pytest

from pipeline.bench.footprint import children_of, measure_run, process_footprint

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("run_args", [[], ["--weights", str(ROOT / "engines/weights/yolo_tiny.onnx")]],
                         ids=["default", "onnx-model"])
def test_no_stage_process_maps_libtorch(run_args):
    result = measure_run(ROOT, run_args)
    kinds = [p["kind"] for p in result["per_process"]]
    assert kinds.count("stage") >= 5 and kinds.count("supervisor") == 1, result["per_process"]
    assert result["libtorch_processes"] == 0, result["per_process"]
    assert result["first_message_s"] > 0 and result["pss_mb_total"] > 0


def test_the_footprint_reader_sees_this_process():
    import os
    me = process_footprint(os.getpid())
    assert me["pss_mb"] > 0 and me["libtorch"] == ("torch" in __import__("sys").modules)
    assert children_of(os.getpid())[0] == os.getpid()
