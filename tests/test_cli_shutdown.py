"""End-to-end shutdown of ``run_pipeline.py run``: SIGINT, SIGTERM and a supervisor killed with SIGKILL.

A clean stop leaves nothing behind: no stage process, no shared-memory segment,
no run folder, and the end-of-run table is printed. After a SIGKILL the stages
die with the supervisor (PR_SET_PDEATHSIG) and the next run removes the
segments the dead run left.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from pipeline.client import Subscriber
from pipeline.shm import SHM_DIR
from tests.test_cli import RUN_INFO, CliProcess, cli_processes, free_endpoint  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
CAPTURE_STARTED = re.compile(r"started stage capture\.cam0 pid (\d+)")


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (tells a reused pid apart), None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def snapshot(pids: dict[str, int]) -> dict[str, tuple[int, int | None]]:
    """name -> (pid, start time), taken while the processes run."""
    return {name: (pid, start_time(pid)) for name, pid in pids.items()}


def is_gone(pid: int, started: int | None) -> bool:
    """True when the process is gone: no /proc entry, a different process now, or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] in ("Z", "X") or (started is not None and int(fields[19]) != started)


def wait_gone(pids: dict[str, tuple[int, int | None]], timeout: float) -> dict[str, int]:
    """Wait until every process is gone; returns the ones still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {name: pid for name, (pid, t0) in pids.items() if not is_gone(pid, t0)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def start_streaming(cli_processes) -> tuple[CliProcess, dict, Path, str, str]:
    """A run with no frame limit, waited on until a subscriber got one message."""
    endpoint = free_endpoint()
    cli = cli_processes("--log-level", "INFO", "run", "--no-status", "--publish", endpoint)
    run_dir, prefix = cli.wait_for_line(RUN_INFO).groups()
    cli.wait_for_line(CAPTURE_STARTED)
    pids = snapshot(cli.stage_pids())
    assert {"capture.cam0", "preprocess", "inference", "postprocess", "sink"} <= set(pids), pids
    with Subscriber(endpoint, timeout_s=60) as sub:
        assert sub.recv() is not None, f"no message within 60 s:\n{cli.stderr}"
    return cli, pids, Path(run_dir), prefix, endpoint


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_and_leaves_nothing_behind(cli_processes, signum):
    cli, pids, run_dir, prefix, _ = start_streaming(cli_processes)
    assert run_dir.is_dir() and list(SHM_DIR.glob(f"{prefix}-*")), "a running run has a folder and segments"
    cli.proc.send_signal(signum)
    code = cli.wait(15)
    assert code in (0, 130), f"exit code {code} after {signum.name}:\n{cli.stderr}"
    assert wait_gone(pids, 2) == {}
    assert sorted(p.name for p in SHM_DIR.glob(f"{prefix}-*")) == []
    assert not run_dir.exists()
    assert "Traceback" not in cli.stderr, cli.stderr
    table = cli.stderr.split("frames ", 1)[-1]
    assert "p50 ms" in table and "end_to_end" in table and "inference" in table, cli.stderr


def test_ctrl_c_to_the_whole_process_group_stops_cleanly(cli_processes):
    """A terminal's Ctrl-C reaches the supervisor and every stage at once."""
    cli, pids, run_dir, prefix, _ = start_streaming(cli_processes)
    os.killpg(cli.proc.pid, signal.SIGINT)   # the CLI leads its own session (start_new_session)
    code = cli.wait(15)
    assert code in (0, 130), cli.stderr
    assert wait_gone(pids, 2) == {}
    assert list(SHM_DIR.glob(f"{prefix}-*")) == [] and not run_dir.exists()
    assert "Traceback" not in cli.stderr, cli.stderr


def test_sigkill_of_the_supervisor_alone_takes_every_stage_and_the_fork_server(cli_processes):
    """Every stage forks from the fork server, which multiprocessing keeps alive while any process it
    forked holds its 'alive' pipe; until the stages closed theirs, a SIGKILLed supervisor left them all
    running (their parent, the server, never exited)."""
    cli, pids, run_dir, _, _ = start_streaming(cli_processes)
    parents = {parent_of(pid) for pid, _ in pids.values()}
    assert len(parents) == 1 and cli.proc.pid not in parents, parents
    forkserver = snapshot({"fork server": parents.pop()})
    os.kill(cli.proc.pid, signal.SIGKILL)
    cli.proc.wait(5)
    assert wait_gone({**pids, **forkserver}, 5) == {}, "outlived a supervisor killed with SIGKILL"
    shutil.rmtree(run_dir, ignore_errors=True)


def test_sigkill_of_the_supervisor_takes_the_stages_and_next_run_removes_segments(cli_processes):
    cli, pids, killed_run_dir, prefix, _ = start_streaming(cli_processes)
    capture_pid = pids["capture.cam0"][0]
    os.kill(cli.proc.pid, signal.SIGKILL)
    os.kill(capture_pid, signal.SIGKILL)     # a stage killed too, so its ring stays behind
    cli.proc.wait(5)
    assert wait_gone(pids, 5) == {}, "stages outlived a supervisor killed with SIGKILL"
    left = sorted(p.name for p in SHM_DIR.glob(f"{prefix}-*"))
    assert f"{prefix}-capture.cam0" in left, left
    shutil.rmtree(killed_run_dir, ignore_errors=True)   # nothing removes a killed run's folder (reported)

    following = cli_processes("--log-level", "INFO", "run", "--no-status", "--publish", free_endpoint())
    following.wait_for_line(re.compile(r"removed \d+ shared-memory segments left by a killed run"), 60)
    assert [p.name for p in SHM_DIR.glob(f"{prefix}-*")] == []
    # stopped while its models load: it must still exit at once and clean up
    run_dir, next_prefix = following.wait_for_line(RUN_INFO).groups()
    time.sleep(1)     # let it start a few stages
    later = snapshot(following.stage_pids())
    following.proc.send_signal(signal.SIGINT)
    assert following.wait(15) in (0, 130), following.stderr
    assert later and wait_gone(later, 2) == {}
    assert list(SHM_DIR.glob(f"{next_prefix}-*")) == [] and not Path(run_dir).exists()
    assert "Traceback" not in following.stderr, following.stderr
