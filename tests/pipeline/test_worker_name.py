"""pipeline/worker.py: every stage process shows its own name (top, ps, /proc/<pid>/comm)."""
import threading

import pytest

from pipeline.worker import name_process


@pytest.mark.parametrize("stage, comm", [("inference", "sd:inference"), ("capture.front-door", "sd:capture.fron")])
def test_a_stage_names_its_process(stage, comm):
    seen = []

    def rename_this_thread():     # PR_SET_NAME names the calling thread: pytest's own stays as it is
        name_process(stage)
        seen.append(open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip())
    worker = threading.Thread(target=rename_this_thread)
    worker.start()
    worker.join()
    assert seen == [comm]
