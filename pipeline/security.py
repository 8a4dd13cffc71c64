"""CurveZMQ for every tcp socket (zmq.auth): key files, servers that accept only authorized keys, clients.

``run_pipeline.py keys --out DIR`` writes, in zmq.auth certificate format:
``DIR/server.key``, ``DIR/server.key_secret``, ``DIR/client.key``, ``DIR/client.key_secret`` and
``DIR/authorized/client.key`` (the public keys a server accepts), every file 0600.
With ``security.curve: DIR`` (``run --curve DIR``) every tcp socket a process makes through
``pipeline.transport.make_socket`` is CURVE: a bound one is a server with ``server.key_secret``
that accepts only the keys in ``DIR/authorized/`` (a ZAP ThreadAuthenticator per ZeroMQ context),
a connecting one a client with ``client.key_secret`` that expects ``server.key``.
ipc and inproc sockets stay plain: their files live in the run's private folder.
"""
from __future__ import annotations

import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

FILES = ("server.key", "server.key_secret", "client.key", "client.key_secret")


class CurveError(ValueError):
    """A key directory or key file that cannot be used (one line for the user)."""


def write_keys(out: str | Path) -> list[Path]:
    """A server and a client key pair, the client's public key authorized. Refuses to overwrite keys."""
    out = Path(out)
    if any((out / name).exists() for name in FILES):
        raise CurveError(f"{out} already holds keys; remove them or choose another --out")
    old_umask = os.umask(0o077)        # no moment at which a secret key is readable by others
    try:
        (out / "authorized").mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in ("server", "client"):
            zmq.auth.create_certificates(out, name)
        shutil.copyfile(out / "client.key", out / "authorized" / "client.key")
    finally:
        os.umask(old_umask)
    written = [out / name for name in FILES] + [out / "authorized" / "client.key"]
    for path in written:
        path.chmod(0o600)
    return written


def check_key_dir(directory: str | Path) -> Path:
    """The directory exists and is readable, and no secret key in it is readable by group or others."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CurveError(f"CURVE key directory {directory} not found (run_pipeline.py keys --out {directory} makes one)")
    if not os.access(directory, os.R_OK | os.X_OK):
        raise CurveError(f"CURVE key directory {directory} is not readable")
    for path in sorted(directory.glob("*.key_secret")):
        _check_private(path)
    return directory


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CurveError(f"{path}: secret key readable by group or others (mode {mode:04o}); chmod 600 {path}")


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise CurveError(f"{path}: missing (run_pipeline.py keys --out {path.parent} writes it)")
    if secret:
        _check_private(path)
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise CurveError(f"{path}: not a zmq.auth certificate ({exc})") from None
    if secret and not secret_key:
        raise CurveError(f"{path}: holds no secret key")
    return public, secret_key


@dataclass(frozen=True)
class CurveKeys:
    directory: Path

    @classmethod
    def open(cls, directory: str | Path) -> "CurveKeys":
        return cls(check_key_dir(directory))

    def make_server(self, sock: zmq.Socket, ctx: zmq.Context) -> None:
        """Before bind: a CURVE server accepting only the public keys in ``authorized/``."""
        public, secret = _load(self.directory / "server.key_secret", secret=True)
        authorized = self.directory / "authorized"
        if not authorized.is_dir():
            raise CurveError(f"{authorized}: missing (the public keys of the clients this host accepts)")
        _authenticator(ctx, authorized)
        sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True

    def make_client(self, sock: zmq.Socket) -> None:
        """Before connect: a CURVE client with ``client.key_secret`` that trusts only ``server.key``."""
        server_public, _ = _load(self.directory / "server.key", secret=False)
        public, secret = _load(self.directory / "client.key_secret", secret=True)
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_public, public, secret


# -- per-process state: the keys of this run and one authenticator per context ------------------
_active: CurveKeys | None = None
_authenticators: dict[int, ThreadAuthenticator] = {}
_lock = threading.Lock()


def activate(security: dict | None) -> CurveKeys | None:
    """Use the config's ``security`` section for every socket this process makes from now on."""
    global _active
    directory = (security or {}).get("curve")
    _active = CurveKeys.open(directory) if directory else None
    return _active


def active() -> CurveKeys | None:
    return _active


def _authenticator(ctx: zmq.Context, authorized: Path) -> None:
    with _lock:
        if id(ctx) in _authenticators:
            return
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(authorized))
        _authenticators[id(ctx)] = auth


def stop_authenticators() -> None:
    """Before terminating the contexts (a running authenticator keeps its context alive)."""
    with _lock:
        for auth in _authenticators.values():
            auth.stop()
        _authenticators.clear()
