"""After a run the supervisor's process has no child left, not even multiprocessing's resource tracker."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, os, sys
from pathlib import Path
from pipeline import config
from pipeline.supervisor import Supervisor
from tests.pipeline.test_end_to_end import free_port
cfg = config.validate({"source": {"max_frames": 3, "realtime": False}, "sinks": {"status": False},
                       "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"}})
summary = Supervisor(cfg, log_level="WARNING").run(timeout_s=300)
children = []
for stat in Path("/proc").glob("[0-9]*/stat"):
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(fields[1]) == os.getpid():
        children.append([stat.parent.name, fields[0]])
print(json.dumps({"frames": summary.get("frames"), "children": children}))
"""


def test_no_child_process_outlives_the_run():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] == 3
    assert result["children"] == [], f"left behind (pid, state): {result['children']}"
