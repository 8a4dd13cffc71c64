"""Hostile envelopes into every stage's socket of a running pipeline (issue 14).

The pipeline keeps publishing every frame (no-drop policy), no stage restarts, and each
stage counts exactly the messages sent to it as malformed. No timing is asserted; the
publish rate while under attack is printed for the record.
"""
from __future__ import annotations

import threading
import time

import pytest
import zmq

from pipeline import config
from pipeline.client import Subscriber
from pipeline.run_plan import CHAIN, stage_endpoints
from pipeline.supervisor import Supervisor
from tests.helpers.hostile import crafted, random_messages
from tests.pipeline.test_end_to_end import free_port

pytestmark = pytest.mark.slow
FRAMES, FPS = 240, 20


def attack(supervisor: Supervisor, sent: dict[str, int], done: threading.Event) -> None:
    """Wait until the stages listen, then send every hostile message to each stage, in four bursts."""
    endpoints = stage_endpoints(supervisor.cfg, supervisor.run_dir)
    deadline = time.monotonic() + 600
    while not all((supervisor.run_dir / f"{name}.ready").exists() for name in CHAIN):
        if time.monotonic() > deadline or supervisor.stop_reason:
            return
        time.sleep(0.1)
    time.sleep(1.0)
    messages = crafted(supervisor.prefix) + random_messages(150, seed=14)
    ctx = zmq.Context()
    socks = {name: ctx.socket(zmq.PUSH) for name in CHAIN}
    try:
        for name, sock in socks.items():
            sock.setsockopt(zmq.LINGER, 2000)
            sock.setsockopt(zmq.SNDHWM, 100_000)
            sock.connect(endpoints[name])
        quarter = len(messages) // 4 + 1
        for burst in range(4):
            for name, sock in socks.items():
                for frames in messages[burst * quarter:(burst + 1) * quarter]:
                    sock.send_multipart(frames)
                    sent[name] += 1
            time.sleep(1.0)
    finally:
        for sock in socks.values():
            sock.close()
        ctx.term()
        done.set()


def test_hostile_envelopes_into_every_stage_socket():
    publish = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.validate({"source": {"max_frames": FRAMES, "realtime": True, "fps": FPS},
                           "transport": {"policy": "wait"},      # paced like a camera, but every frame counted
                           "publish": {"endpoint": publish}, "sinks": {"status": False}}, "live fuzz")
    supervisor = Supervisor(cfg, log_level="ERROR")
    sent, done = {name: 0 for name in CHAIN}, threading.Event()
    attacker = threading.Thread(target=attack, args=(supervisor, sent, done), daemon=True)
    received: list[tuple[float, int]] = []
    finished = threading.Event()

    def follow(sub: Subscriber) -> None:
        while not finished.is_set():
            message = sub.recv()
            if message is not None:
                received.append((time.monotonic(), message["frame_id"]))

    with Subscriber(publish, timeout_s=0.2) as sub:
        follower = threading.Thread(target=follow, args=(sub,), daemon=True)
        attacker.start()
        follower.start()
        try:
            summary = supervisor.run(timeout_s=600)
        finally:
            time.sleep(0.5)
            finished.set()
            follower.join(5)
    assert done.is_set(), "the attack did not finish before the end of the stream"
    assert summary["restarts"] == 0 and summary["complete"]
    assert [frame_id for _, frame_id in received] == list(range(FRAMES))
    for name in CHAIN:
        assert summary["counts"][name]["malformed"] == sent[name], (name, summary["counts"][name])
    span = received[-1][0] - received[0][0]
    print(f"\npublished {len(received)} frames at {(len(received) - 1) / span:.1f} FPS (source {FPS}) "
          f"while {sum(sent.values())} hostile messages went in")
