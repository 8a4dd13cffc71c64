"""POST and DELETE /streams, run on the supervisor's thread by ``StreamManager`` (their first argument).

Removal order: the new stream set goes out on the control channel, the sink
acknowledges it (from then on it publishes nothing of that stream and the
shared stages have unlinked their rings of it), the capture stops, its ring,
frame-id file and marker files are removed.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from pipeline.api.streams import StreamRequestError
from pipeline.config import ConfigError
from pipeline.shm import SHM_DIR
from pipeline.source_list import check_entry, resolve_entry

log = logging.getLogger("streamdet.streams")
REMOVE_TIMEOUT_S = 3.0


def add_stream(manager, body: dict) -> dict:
    """POST /streams on the supervisor's thread: check, 400/409, start its capture, return it."""
    from pipeline.sources.base import SourceError
    from pipeline.sources.factory import make_source
    from pipeline.run_plan import capture_spec
    names = manager.table.names()
    body = dict(body)
    body.setdefault("name", next(f"cam{i}" for i in range(len(names) + 1) if f"cam{i}" not in names))
    try:
        entry = resolve_entry(check_entry(body, "stream"), manager.sup.cfg["source"], len(names))
        if entry["name"] in names:
            raise StreamRequestError(409, f"stream {entry['name']!r} exists")
        make_source(entry)            # a bad URI or a missing file: 400 now, no process started
    except (ConfigError, SourceError, ValueError, OSError) as exc:
        raise StreamRequestError(400, str(exc).splitlines()[0]) from None
    name = f"capture.{entry['name']}"
    Path(manager.sup.run_dir, f"{entry['name']}.frame_id").unlink(missing_ok=True)
    manager.sup.specs[name] = capture_spec(manager.sup.cfg, entry, manager.sup.run_dir, manager.sup.prefix)
    manager.sup.restarts.setdefault(name, 0)
    record = manager.table.add(entry)
    manager.added_at_runtime = True
    manager.publish_streams()
    manager.sup._spawn(name)
    log.info("stream %s added (%s)", entry["name"], record.public()["uri"])
    return {"name": entry["name"], **record.public()}


def remove_stream(manager, stream: str) -> None:
    """DELETE /streams/NAME on the supervisor's thread: 404, or gone for good when it returns."""
    if manager.table.get(stream) is None:
        raise StreamRequestError(404, f"no stream {stream!r}")
    manager.table.remove(stream)
    manager.stop_sent.discard(stream)
    seq = manager.publish_streams()
    name = f"capture.{stream}"
    proc = manager.sup.procs.get(name)
    if proc is not None and proc.is_alive():
        proc.terminate()
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    while time.monotonic() < deadline and (manager.table.acked_seq < seq or (proc and proc.is_alive())):
        manager.drain(20)
        if proc is not None and proc.is_alive() and time.monotonic() > deadline - 1.0:
            proc.kill()
    if manager.table.acked_seq < seq:
        log.warning("the sink did not confirm the removal of %s in %.0f s", stream, REMOVE_TIMEOUT_S)
    manager.sup.specs.pop(name, None)
    manager.sup.procs.pop(name, None)
    manager.sup.finished.discard(name)
    (SHM_DIR / f"{manager.sup.prefix}-{name}").unlink(missing_ok=True)
    for suffix in (".error", ".ready"):
        (manager.sup.run_dir / f"{name}{suffix}").unlink(missing_ok=True)
    (manager.sup.run_dir / f"{stream}.frame_id").unlink(missing_ok=True)
    if manager.preview_hub is not None:
        manager.preview_hub.forget(stream)          # its last picture is not served any more
    log.info("stream %s removed", stream)
