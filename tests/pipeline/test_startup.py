"""Captures start with the other stages but read no frame before the supervisor's go file."""
import threading
import types

from pipeline.worker import GO_FILE, wait_for_go


def test_capture_waits_for_the_go_file(tmp_path):
    stage = types.SimpleNamespace(stopping=False)
    released = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_for_go(tmp_path, stage), released.set()))
    waiter.start()
    assert not released.wait(0.2)               # nothing yet: still waiting
    (tmp_path / GO_FILE).touch()
    assert released.wait(10)
    waiter.join(10)


def test_a_stop_releases_a_waiting_capture(tmp_path):
    stage = types.SimpleNamespace(stopping=False)
    waiter = threading.Thread(target=wait_for_go, args=(tmp_path, stage))
    waiter.start()
    stage.stopping = True
    waiter.join(10)
    assert not waiter.is_alive() and not (tmp_path / GO_FILE).exists()
