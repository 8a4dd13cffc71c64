"""bench --suite triton: its pipelines must run as fast as they go, not at the live default's camera rate."""
import json
import subprocess

from pipeline import config
from pipeline.bench import triton_bench


class FakeRun:
    def __init__(self, argv, **kwargs):
        self.argv, self.returncode = argv, 0
        summary = argv[argv.index("--summary") + 1]
        open(summary, "w").write(json.dumps({"fps": 50.0}))
        FakeRun.started.append(argv)

    def communicate(self, timeout=None):
        return "", ""


def test_pipelines_run_unpaced_without_drops(tmp_path, monkeypatch):
    """Since the default camera became live (paced at 30 FPS, newest frame wins) one pipeline measured
    30.0 FPS: the camera's rate, not what the pipeline does."""
    FakeRun.started = []
    monkeypatch.setattr(subprocess, "Popen", FakeRun)
    result = triton_bench.run_pipelines(2, ["--engine", "onnxruntime"], 600, tmp_path)
    assert result == {"aggregate_fps": 100.0, "per_pipeline_fps": [50.0, 50.0]}
    for argv in FakeRun.started:
        cfg = config.load(argv[argv.index("--config") + 1])
        assert cfg["source"]["realtime"] is False and cfg["transport"]["policy"] == "wait"
    assert [argv[argv.index("--seed") + 1] for argv in FakeRun.started] == ["0", "1"]
