"""A real MQTT broker (Debian ``mosquitto``) on a free loopback port, and ``mosquitto_sub`` readers.

    with MosquittoBroker(tmp_path) as broker:
        with TopicRecorder(broker.port, "streamdet/#") as rec: ...
        broker.kill(); broker.start()          # away and back, same port
"""
from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers.rtsp import free_port
from tests.helpers.wait import wait_until

BROKER, SUB, PUB = "mosquitto", "mosquitto_sub", "mosquitto_pub"


def unavailable_reason() -> str | None:
    missing = [b for b in (BROKER, SUB, PUB) if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        return f"{', '.join(missing)} not installed (Debian mosquitto, mosquitto-clients: .ci/apt-packages.txt)"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def make_test_ca(workdir: Path) -> dict[str, Path]:
    """A throw-away CA and a broker certificate for 127.0.0.1 (openssl): {"ca", "cert", "key"}."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = {name: workdir / f"{name}.pem" for name in ("ca", "ca_key", "cert", "key", "csr")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=streamdet test CA",
            "-keyout", str(files["ca_key"]), "-out", str(files["ca"]))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(files["key"]),
            "-out", str(files["csr"]))
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(files["csr"]), "-CA", str(files["ca"]), "-CAkey", str(files["ca_key"]),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(files["cert"]))
    return {"ca": files["ca"], "cert": files["cert"], "key": files["key"]}


class MosquittoBroker:
    """Listens on 127.0.0.1:``port`` only, in-memory (a restart forgets retained messages).

    Anonymous unless ``users`` ({name: password}) is given; TLS when ``tls`` ({"ca", "cert", "key"}
    from ``make_test_ca``) is given.
    """

    def __init__(self, workdir: Path, port: int | None = None, users: dict[str, str] | None = None,
                 tls: dict[str, Path] | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.users, self.tls = users, tls
        self.process: subprocess.Popen | None = None

    def _config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr",
                 "log_type error", "log_type warning",
                 f"user {getpass.getuser()}"]      # as root it would switch to 'mosquitto' and not read our files
        if self.users:
            passwords = self.workdir / "passwords"
            passwords.write_text("")
            for name, password in self.users.items():
                subprocess.run([_binary("mosquitto_passwd"), "-b", str(passwords), name, password],
                               check=True, capture_output=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 15.0) -> "MosquittoBroker":
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self._config())
        with open(self.workdir / "mosquitto.log", "a") as log:
            self.process = subprocess.Popen([_binary(BROKER), "-c", str(conf)], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {(self.workdir / 'mosquitto.log').read_text()}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-run, as a crashed or unplugged one does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


def retained(port: int, topic: str, timeout_s: float = 5.0) -> str | None:
    """The retained payload of ``topic`` now (None if none): a fresh subscriber gets only that."""
    result = subprocess.run([_binary(SUB), "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1",
                             "-W", str(int(timeout_s)), "--retained-only"],
                            capture_output=True, text=True, timeout=timeout_s + 5)
    return result.stdout.strip() if result.returncode == 0 and result.stdout else None


class TopicRecorder:
    """``mosquitto_sub -v`` on a topic filter: every (topic, payload) received, in order."""

    def __init__(self, port: int, topic: str = "#", probe_topic: str | None = None) -> None:
        self.probe_topic = probe_topic
        self.args = [_binary(SUB), "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-v"]
        self.messages: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def start(self, probe_topic: str | None = None, timeout_s: float = 15.0) -> "TopicRecorder":
        """Subscribes; with ``probe_topic`` (matching the filter) waits until a probe comes through."""
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + timeout_s
        while probe_topic and not self.on(probe_topic):     # mosquitto_sub prints no "subscribed" line
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto_sub never got a probe on {probe_topic}")
            subprocess.run([_binary(PUB), "-h", "127.0.0.1", "-p", self.args[4], "-t", probe_topic, "-m", "probe"],
                           capture_output=True, timeout=10)
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            with self.lock:
                self.messages.append((topic, payload))

    def on(self, topic: str) -> list[str]:
        with self.lock:
            return [p for t, p in self.messages if t == topic]

    def wait_for(self, predicate, timeout_s: float = 30.0, what: str = "messages") -> None:
        """Until ``predicate(self)``; the timeout says how many messages had come."""
        try:
            wait_until(lambda: predicate(self), timeout_s, what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; got {len(self.messages)} messages") from None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)
        self.reader.join(2)

    def __enter__(self) -> "TopicRecorder":
        return self.start(self.probe_topic)

    def __exit__(self, *exc) -> None:
        self.stop()
