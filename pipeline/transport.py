"""Endpoints, sockets and the two buffer policies between stages.

- Endpoint strings are parsed and checked in one place (``Endpoint.parse``).
  Nothing binds beyond loopback unless the config sets ``allow_remote``.
- Hops are PUSH -> PULL; the downstream stage binds, so several capture
  stages can fan in to one preprocess stage.
- Policies (named, never magic flags):
  ``wait``   — no drops: sends block (with a timeout so a stop request is seen),
               the receiver takes messages one by one in order.
  ``latest`` — live: sends never block (a full queue drops the new message),
               the receiver drains its queue and keeps only the newest frame of
               each stream; everything skipped is counted.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import zmq

from pipeline.codec import decode, encode
from pipeline.messages import EOS, Envelope
from pipeline.validate import MAX_ARRAY_BYTES, LogLimiter, MessageError

log = logging.getLogger("streamdet.transport")
POLICIES = ("wait", "latest")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class EndpointError(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    url: str
    scheme: str      # ipc | tcp | inproc
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        if not isinstance(url, str) or "://" not in url:
            raise EndpointError(f"{url!r} is not an endpoint: expected ipc:///path, tcp://host:port or inproc://name")
        scheme, rest = url.split("://", 1)
        if scheme == "ipc":
            if not rest.startswith("/") or len(rest) > 100:
                raise EndpointError(f"{url!r}: ipc endpoints need an absolute path under 100 characters")
            return cls(url, scheme, path=rest)
        if scheme == "inproc":
            if not rest:
                raise EndpointError(f"{url!r}: inproc endpoints need a name")
            return cls(url, scheme, path=rest)
        if scheme == "tcp":
            parts = urlsplit(f"//{rest}")
            try:
                port = parts.port
            except ValueError:
                port = None
            if not parts.hostname or port is None or not 0 < port < 65536:
                raise EndpointError(f"{url!r}: tcp endpoints need a host and a port 1-65535, e.g. tcp://127.0.0.1:5556")
            return cls(url, scheme, host=parts.hostname, port=port)
        raise EndpointError(f"{url!r}: unknown transport {scheme!r} (expected ipc, tcp or inproc)")

    @property
    def is_local(self) -> bool:
        """True when both sides share this machine's memory (shared-memory slots usable)."""
        return self.scheme in ("ipc", "inproc") or self.host in _LOOPBACK_NAMES or _is_loopback(self.host)

    def check_bind(self, allow_remote: bool) -> None:
        if self.scheme != "tcp" or allow_remote or self.is_local:
            return
        raise EndpointError(f"{self.url}: refusing to listen beyond 127.0.0.1; "
                            "set transport.allow_remote: true in the config to allow it")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_socket(ctx: zmq.Context, kind: int, endpoint: Endpoint, *, bind: bool, hwm: int,
                allow_remote: bool = False) -> zmq.Socket:
    """Every tcp socket is CURVE when the process runs with ``security.curve`` (pipeline/security.py)."""
    from pipeline import security
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    keys = security.active() if endpoint.scheme == "tcp" else None
    if keys is not None:
        try:
            keys.make_server(sock, ctx) if bind else keys.make_client(sock)
        except BaseException:
            sock.close(0)
            raise
    if bind:
        endpoint.check_bind(allow_remote)
        try:
            sock.bind(endpoint.url)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise OSError(f"cannot listen on {endpoint.url}: {exc.strerror}") from None
    else:
        sock.connect(endpoint.url)
    return sock


def envelope_policy(env: Envelope, hop_policy: str) -> str:
    """A stream's own policy (``meta["policy"]``, set by its capture) over the hop's.

    So a file in a pipeline with live cameras keeps every frame while the
    cameras' frames are newest-wins."""
    policy = env.meta.get("policy")
    return policy if policy in POLICIES else hop_policy


class Sender:
    """The PUSH side of a hop."""

    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, *, policy: str, hwm: int = 4,
                 send_timeout_ms: int = 200) -> None:
        self.endpoint, self.policy = endpoint, policy
        self.sock = make_socket(ctx, zmq.PUSH, endpoint, bind=False, hwm=hwm)
        self.sock.setsockopt(zmq.SNDTIMEO, send_timeout_ms)
        self.dropped = 0
        self.dropped_by_stream: dict[str, int] = {}

    def send(self, env: Envelope, stopping=lambda: False) -> bool:
        frames = encode(env)
        if envelope_policy(env, self.policy) == "latest" and env.kind != EOS:
            try:
                self.sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return True
            except zmq.Again:
                self.dropped += 1
                self.dropped_by_stream[env.stream] = self.dropped_by_stream.get(env.stream, 0) + 1
                return False
        while True:
            try:
                self.sock.send_multipart(frames, copy=False)
                return True
            except zmq.Again:
                if stopping():
                    return False

    def close(self, linger_ms: int = 0) -> None:
        """linger_ms > 0 waits that long for queued messages (an end-of-stream) to leave."""
        self.sock.close(linger_ms)


class Receiver:
    """The PULL side of a hop (binds)."""

    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, *, policy: str, hwm: int = 4,
                 allow_remote: bool = False, admit=None) -> None:
        """``admit(env)`` raises MessageError for an envelope that decoded but must not be used
        (a slot reference outside this run's rings): it is dropped and counted like one that did not decode."""
        self.endpoint, self.policy, self.admit = endpoint, policy, admit
        self.sock = make_socket(ctx, zmq.PULL, endpoint, bind=True, hwm=hwm, allow_remote=allow_remote)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_ARRAY_BYTES)   # a bigger frame disconnects its sender
        self.dropped = 0       # older frames skipped by the latest policy
        self.dropped_by_stream: dict[str, int] = {}
        self.malformed = 0     # messages that did not decode or failed validation
        self._discarded: list[Envelope] = []   # skipped by ``latest``; their slots still need releasing
        self._malformed_log = LogLimiter(log)

    def _recv_one(self, flags: int = 0) -> Envelope | None:
        frames = self.sock.recv_multipart(flags=flags, copy=False)
        try:
            env = decode([f.buffer for f in frames])
            if self.admit is not None:
                self.admit(env)
            return env
        except (MessageError, OSError) as exc:
            self.malformed += 1
            self._malformed_log.warning("dropped a malformed message on %s: %s (%d so far)",
                                        self.endpoint.url, exc, self.malformed)
            return None

    def recv(self, timeout_ms: int) -> list[Envelope]:
        """Messages ready now (waiting up to timeout_ms for the first), by policy."""
        if not self.sock.poll(timeout_ms):
            return []
        first = self._recv_one()
        received = [first] if first is not None else []
        if self.policy == "wait":
            return received
        while True:   # latest: drain what is queued, keep the newest frame per stream
            try:
                env = self._recv_one(zmq.NOBLOCK)
            except zmq.Again:
                break
            if env is not None:
                received.append(env)
        return self._newest_per_stream(received)

    def _newest_per_stream(self, received: list[Envelope]) -> list[Envelope]:
        newest: dict[str, Envelope] = {}
        kept: list[Envelope] = []
        for env in received:
            if env.kind == EOS or envelope_policy(env, self.policy) == "wait":   # a no-drop stream keeps all
                kept.append(env)
                continue
            if env.stream in newest:
                self.count_skipped(env.stream)
                self._discarded.append(newest[env.stream])
            newest[env.stream] = env
        return list(newest.values()) + kept

    def count_skipped(self, stream: str) -> None:
        """A frame of ``stream`` skipped for a newer one (here, or by a stage that queues frames)."""
        self.dropped += 1
        self.dropped_by_stream[stream] = self.dropped_by_stream.get(stream, 0) + 1

    def take_discarded(self) -> list[Envelope]:
        """Envelopes skipped by the latest policy since the last call."""
        out, self._discarded = self._discarded, []
        return out

    def close(self) -> None:
        self.sock.close(0)
