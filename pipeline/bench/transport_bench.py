"""One hop, two ways: a frame by shared-memory slot (header only on ZeroMQ) vs raw ZeroMQ.

Producer and consumer are separate processes, as stages are. Two figures:
- ``cost``: messages sent back to back; the hop's cost is the elapsed time from
  the first send to the moment the consumer holds a usable NumPy view of the
  last frame, divided by the number of messages. This is what a hop adds to a
  busy pipeline. The frame is already in its slot (capture writes it once,
  whatever the transport), so only the hop is timed.
- ``paced_latency``: one message every 10 ms, each timed alone. On this VM it is
  dominated by the consumer waking from sleep (~0.4 ms even for a 48-byte
  message), the same for both transports; it is reported, not targeted.
Both use ``time.perf_counter`` (CLOCK_MONOTONIC on Linux, one clock for all processes).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from pipeline.codec import decode, encode
from pipeline.messages import Envelope
from pipeline.metrics import percentiles
from pipeline.shm import RingCache, SlotRing, SlotWriter


def _consumer(url: str, count: int, out_path: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind(url)
    rings, hops, last = RingCache(), [], 0.0
    for _ in range(count):
        frames = sock.recv_multipart(copy=False)
        env = decode([f.buffer for f in frames])
        value = env.arrays["frame"]
        pixels = rings.resolve(value) if not isinstance(value, np.ndarray) else value
        _ = pixels[0, 0, 0]                         # the view is usable
        if not isinstance(value, np.ndarray):
            rings.get(value).release(value.seq)     # as the "wait" policy's last holder does
        last = time.perf_counter()
        hops.append((last - env.meta["t0"]) * 1e3)
    Path(out_path).write_text(json.dumps({"hops": hops, "last": last}))
    rings.close()
    sock.close(0)
    ctx.term()


def _one_way(mode: str, shape: tuple, count: int, pace_s: float, workdir: Path) -> dict:
    url, out = f"ipc://{workdir}/{mode}.sock", workdir / f"{mode}.json"
    proc = mp.get_context("spawn").Process(target=_consumer, args=(url, count, str(out)))
    proc.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.connect(url)
    ring = SlotRing.create(f"streamdet-bench-{workdir.name}", 8, int(np.prod(shape)))
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    for slot in range(ring.nslots):                   # capture's own write, done once, not timed
        ring.view(slot, 0, shape, np.uint8)[...] = frame
    time.sleep(1.0)                                   # let the consumer bind and connect
    first = time.perf_counter()
    for seq in range(count):
        if mode == "shm":
            writer = SlotWriter(ring, seq, ring.reserve(seq, wait=True, timeout_s=10))
            writer.array("frame", shape, np.uint8)
            arrays = writer.commit()
        else:
            arrays = {"frame": frame}
        env = Envelope(frame_id=seq, arrays=arrays)
        env.meta["t0"] = time.perf_counter()
        sock.send_multipart(encode(env), copy=False)
        if pace_s:
            time.sleep(pace_s)
    proc.join(60)
    ring.close(unlink=True)
    sock.close(0)
    ctx.term()
    result = json.loads(out.read_text())
    result["per_message_ms"] = (result["last"] - first) * 1e3 / count
    return result


def bench_transport(width: int = 1920, height: int = 1080, count: int = 500,
                    repeat: int = 5) -> dict:
    """Median over ``repeat`` runs of the back-to-back cost, plus one paced latency run each."""
    shape = (height, width, 3)
    cost = {"shm": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="sdbench") as tmp:
        for _ in range(repeat):
            for mode in cost:
                cost[mode].append(_one_way(mode, shape, count, 0.0, Path(tmp))["per_message_ms"])
        paced = {mode: _one_way(mode, shape, 200, 0.01, Path(tmp))["hops"][20:] for mode in cost}
    shm_ms, raw_ms = float(np.median(cost["shm"])), float(np.median(cost["raw"]))
    return {"frame": f"{width}x{height}x3 uint8 ({np.prod(shape) / 1e6:.1f} MB)",
            "messages_per_run": count, "repeats": repeat,
            "cost_ms": {"shm": round(shm_ms, 4), "raw_zmq": round(raw_ms, 4),
                        "runs_shm": [round(v, 4) for v in cost["shm"]],
                        "runs_raw_zmq": [round(v, 4) for v in cost["raw"]]},
            "raw_over_shm": round(raw_ms / shm_ms, 1),
            "paced_latency_ms": {"shm": percentiles(paced["shm"]), "raw_zmq": percentiles(paced["raw"])}}
