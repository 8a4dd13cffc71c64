"""bench.json is strict JSON: no NaN, and no device left as 'auto'."""
import json
import math

import pytest

from pipeline.bench.jsonout import dumps_result, finite, unresolved_devices, write_result


def test_non_finite_numbers_become_null():
    result = {"a": float("nan"), "b": [1.0, float("inf"), {"c": -math.inf}], "d": 2, "e": "x"}
    assert finite(result) == {"a": None, "b": [1.0, None, {"c": None}], "d": 2, "e": "x"}
    assert json.loads(dumps_result(result))["a"] is None


def test_an_unresolved_device_is_refused(tmp_path):
    result = {"r50_latency": {"device": "auto"}, "rows": [{"device": "cpu"}, {"device": "auto"}]}
    assert unresolved_devices(result) == ["r50_latency.device", "rows[1].device"]
    with pytest.raises(ValueError, match="unresolved device"):
        write_result(tmp_path / "bench.json", result)
    assert not (tmp_path / "bench.json").exists()


def test_the_committed_maskrcnn_result_would_now_be_written_clean(tmp_path):
    text = '{"branch": {"model_ms": {"p50_ms": NaN}}, "r50_latency": {"device": "cpu"}}'
    write_result(tmp_path / "bench.json", json.loads(text))
    assert "NaN" not in (tmp_path / "bench.json").read_text()
