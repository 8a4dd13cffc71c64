import numpy as np
import zmq

from pipeline.shm import SlotRef
from pipeline.stage import StageIO, StageSpec


def io_for(output: str, name: str) -> StageIO:
    spec = StageSpec(name, "preprocess", None, output, policy="wait", run_prefix=f"streamdet-test-{name}", nslots=2)
    return StageIO(spec, zmq.Context.instance())


def test_local_hop_writes_into_a_shared_memory_slot():
    io = io_for("ipc:///tmp/streamdet-test-local.sock", "local")
    arrays = io.alloc({"x": ((2, 3), np.float32)})
    arrays["x"][...] = 7
    refs = io.commit(arrays)
    assert isinstance(refs["x"], SlotRef) and refs["x"].shape == (2, 3)
    io.close()


def test_remote_hop_sends_plain_arrays_inline():
    io = io_for("ipc:///tmp/streamdet-test-remote.sock", "remote")
    io.local_output = False     # as for tcp:// to another host (not dialled here: tests stay on loopback)
    arrays = io.alloc({"x": ((2, 3), np.float32)})
    arrays["x"][...] = 7
    committed = io.commit(arrays)
    assert isinstance(committed["x"], np.ndarray) and committed["x"].sum() == 42
    io.close()
