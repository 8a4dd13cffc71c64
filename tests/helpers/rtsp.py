"""Start and kill the loopback RTSP test server (rtsp_server.py) from the venv's tests.

The server needs Debian's own /usr/bin/python3 with the GStreamer bindings;
``unavailable_reason`` says why it cannot run here, for a clear pytest skip.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
GI_CHECK = ("import gi; gi.require_version('Gst', '1.0'); "
            "gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import Gst, GstRtspServer")


def unavailable_reason() -> str | None:
    """None when the server can run, else why not (one line)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server needs Debian's python3-gi)"
    check = subprocess.run([SYSTEM_PYTHON, "-c", GI_CHECK], capture_output=True, text=True,
                           timeout=30)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["unknown error"])[-1]
        return (f"{SYSTEM_PYTHON} cannot import gi/GstRtspServer ({last}); "
                "install the packages in .ci/apt-packages.txt")
    return None


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServer:
    """One run of the test server on ``port``; ``url`` is where the test pattern (or ``clip``) streams.

    The server's stderr goes to ``log_path`` so a failed start can say why.
    """

    def __init__(self, port: int, log_path: Path, size: tuple[int, int] = (320, 240), fps: int = 25,
                 clip: Path | None = None) -> None:
        self.port, self.size, self.fps, self.clip = port, size, fps, clip
        self.url = f"rtsp://127.0.0.1:{port}/test"
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> "RtspServer":
        clip = ["--clip", str(self.clip)] if self.clip else []
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.port), "--width", str(self.size[0]),
                 "--height", str(self.size[1]), "--fps", str(self.fps), *clip],
                stdout=subprocess.PIPE, stderr=log, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout_s)
        first = lines[0].strip() if lines else ""
        if not first.startswith("READY"):
            self.kill()
            errors = self.log_path.read_text().strip().splitlines()
            why = first or (errors[-1] if errors else f"no READY line within {timeout_s:.0f} s")
            raise RuntimeError(f"RTSP test server on port {self.port} did not start: {why}")
        return self

    def pause(self) -> None:
        """SIGSTOP: the connection stays up but no data flows (a stalled stream)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, like a crashed camera or a pulled cable on the server side."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.process.stdout.close()
        self.process = None
