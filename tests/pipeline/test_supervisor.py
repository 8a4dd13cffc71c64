"""How the supervisor starts its stage processes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, os
from pathlib import Path
from pipeline import config
from pipeline.supervisor import Supervisor
from tests.pipeline.test_end_to_end import free_port
cfg = config.validate({"source": {"max_frames": 3, "realtime": False}, "sinks": {"status": False},
                       "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"}})
sup = Supervisor(cfg, log_level="WARNING")
parents, spawn = {}, sup._spawn

def spawn_and_look(name):
    spawn(name)
    ppid = int(Path(f"/proc/{sup.procs[name].pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    cmdline = Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    parents[name] = {"ppid": ppid, "forkserver": "multiprocessing.forkserver" in cmdline}

sup._spawn = spawn_and_look
summary = sup.run(timeout_s=300)
print(json.dumps({"frames": summary.get("frames"), "me": os.getpid(), "parents": parents}))
"""


def test_every_stage_starts_from_one_fork_server():
    """Spawning a fresh interpreter per model stage cost the default run 0.4-1.2 s of start-up on 2 cores
    (each re-imported NumPy, OpenCV, ZeroMQ and the stage code); only the captures came from the fork
    server then, so this failed for sink, postprocess, inference and preprocess."""
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] == 3
    parents = result["parents"]
    assert set(parents) == {"capture.cam0", "preprocess", "inference", "postprocess", "sink"}
    assert all(p["forkserver"] for p in parents.values()), parents
    assert len({p["ppid"] for p in parents.values()}) == 1, parents
    assert result["me"] not in {p["ppid"] for p in parents.values()}
