"""The stage interface (setup / process / close) and the one run loop all stages share.

The loop receives envelopes by the hop's policy, times each stage, releases the
shared-memory slots it no longer needs, checks that no slot it read was
overwritten meanwhile (stale frames are dropped and counted), stamps, sends and
forwards end-of-stream. Counters of what a stage dropped ride on every envelope
it sends (``meta["counts"][stage]``), so the sink sees all of them without a
side channel.
"""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from pipeline.messages import EOS, Envelope
from pipeline.shm import RingCache, SlotRef, SlotRing, SlotWriter, StaleSlot
from pipeline.transport import Endpoint, Receiver, Sender
from pipeline.validate import LogLimiter, MessageError

log = logging.getLogger("streamdet.stage")


@dataclass
class StageSpec:
    """Plain data the supervisor hands a stage process (spawn-safe)."""
    name: str                      # unique: "capture.cam0", "preprocess", ...
    kind: str                      # capture | preprocess | inference | postprocess | sink
    input: str | None              # endpoint this stage binds and pulls from
    output: str | None             # endpoint this stage connects and pushes to
    policy: str = "wait"
    hwm: int = 4
    run_prefix: str = "streamdet"  # shared-memory names start with this
    nslots: int = 8
    allow_remote: bool = False
    config: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)   # stage-specific (stream name, ...)


class StageIO:
    """A stage's sockets, the rings it reads and the ring it writes."""

    def __init__(self, spec: StageSpec, ctx: zmq.Context, open_sockets: bool = True) -> None:
        """``open_sockets=False``: a standby builds everything but binds nothing until ``open()``."""
        self.spec, self._ctx = spec, ctx
        self.receiver = self.sender = None
        self.local_output = (spec.output is not None and Endpoint.parse(spec.output).is_local
                             and spec.config.get("transport", {}).get("shared_memory", "auto") != "never")
        self.rings = RingCache(spec.run_prefix)   # opens only this run's rings
        self._rings: dict[str | None, SlotRing] = {}   # one ring per stream written (None: not per stream)
        self._seqs: dict[str | None, int] = {}
        self._writer: SlotWriter | None = None
        self.blocked_s = 0.0  # time alloc() waited for a free slot downstream (queueing, not work)
        self.wait_streams: set[str] = set()   # streams whose frames must not be overwritten (policy wait)
        self.stale = 0      # frames whose slot was overwritten before we were done
        self.failed = 0     # frames whose processing raised
        self.dropped = 0    # frames this stage dropped itself (a remote engine offline)
        self.extra_counts: dict = {}   # stage-specific counters (engine request stats)
        if open_sockets:
            self.open()

    def open(self) -> None:
        spec = self.spec
        if spec.input:
            self.receiver = Receiver(self._ctx, Endpoint.parse(spec.input), policy=spec.policy,
                                     hwm=spec.hwm, allow_remote=spec.allow_remote, admit=self.admit)
        if spec.output:
            self.sender = Sender(self._ctx, Endpoint.parse(spec.output), policy=spec.policy, hwm=spec.hwm)

    # -- reading ----------------------------------------------------------
    def array(self, env: Envelope, name: str) -> np.ndarray:
        value = env.arrays[name]
        return self.rings.resolve(value) if isinstance(value, SlotRef) else value

    def admit(self, env: Envelope) -> None:
        """Every slot reference must name a ring of this run and lie inside its slot (else MessageError)."""
        for ref in env.refs():
            self.rings.check(ref)

    def still_valid(self, env: Envelope) -> bool:
        try:
            return all(self.rings.get(ref).valid(ref) for ref in env.refs())
        except (MessageError, OSError):
            return False   # its ring is gone or was replaced: the frame is stale

    def release(self, env: Envelope, keep: Envelope | None = None) -> None:
        kept = set() if keep is None else {(r.ring, r.seq) for r in keep.refs()}
        for ref in env.refs():
            if (ref.ring, ref.seq) not in kept:
                try:
                    self.rings.get(ref).release(ref.seq)
                except (MessageError, OSError):
                    pass   # producer restarted and its old ring is gone (refs were checked on receipt)

    # -- writing ----------------------------------------------------------
    def alloc(self, shapes: dict[str, tuple], stopping=lambda: False,
              stream: str | None = None) -> dict[str, np.ndarray] | None:
        """Writable arrays for the next message: ring views on a local hop, plain arrays otherwise.

        With ``stream`` the slots come from that stream's own ring, so under the
        newest-frame policy a fast stream cannot overwrite a slow one's frames.
        Returns None if a stop was requested while waiting for a free slot.
        """
        if not self.local_output:
            return {name: np.empty(shape, dtype) for name, (shape, dtype) in shapes.items()}
        need = sum(int(np.prod(s)) * np.dtype(d).itemsize + 64 for s, d in shapes.values())
        ring = self._rings.get(stream)
        if ring is None or ring.slot_size < need:
            ring = self._new_ring(need, stream)
        seq = self._seqs.get(stream, 0)
        started = time.monotonic()
        while True:
            slot = ring.reserve(seq, wait=self.spec.policy == "wait" or stream in self.wait_streams,
                                timeout_s=0.2)
            if slot is not None:
                break
            if stopping():
                return None
        self.blocked_s += time.monotonic() - started
        self._writer = SlotWriter(ring, seq, slot)
        self._seqs[stream] = seq + 1
        return {name: self._writer.array(name, shape, dtype) for name, (shape, dtype) in shapes.items()}

    def wait_credit(self, window: int, stopping=lambda: False, timeout_s: float = 1.0,
                    stream: str | None = None) -> bool:
        """Wait until at most ``window - 1`` of the messages sent on ``stream``'s ring are still held
        downstream (True), or ``timeout_s`` passed or a stop was asked (False: go on anyway, a stage
        that died holding a slot must not stall this one). No ring yet or no shared memory: True."""
        ring = self._rings.get(stream)
        if ring is None:
            return True
        needed = self._seqs.get(stream, 0) - window       # released must reach this seq
        deadline = time.monotonic() + timeout_s
        while not ring.wait_released(needed, min(0.2, max(0.0, deadline - time.monotonic()))):
            if stopping() or time.monotonic() >= deadline:
                return False
        return True

    def commit(self, arrays: dict[str, np.ndarray]) -> dict:
        """What to put in the outgoing envelope's ``arrays`` for what ``alloc`` gave."""
        if self._writer is None:
            return arrays
        refs, self._writer = self._writer.commit(), None
        return refs

    def _new_ring(self, need: int, stream: str | None) -> SlotRing:
        self.drop_stream(stream)
        name = f"{self.spec.run_prefix}-{self.spec.name}" + (f".{stream}" if stream is not None else "")
        ring = self._rings[stream] = SlotRing.create(name, self.spec.nslots, need)
        self._seqs[stream] = 0
        return ring

    def drop_stream(self, stream: str | None) -> None:
        """Unlink the ring this stage writes for ``stream`` (a stream removed at runtime)."""
        ring = self._rings.pop(stream, None)
        if ring is not None:
            ring.close(unlink=True)

    # -- counters ---------------------------------------------------------
    def counts(self) -> dict[str, int]:
        r, s = self.receiver, self.sender
        by_stream: dict[str, int] = {}
        for side in (r, s):
            for stream, n in (side.dropped_by_stream if side else {}).items():
                by_stream[stream] = by_stream.get(stream, 0) + n
        return {"dropped": (r.dropped if r else 0) + (s.dropped if s else 0) + self.dropped,
                "malformed": r.malformed if r else 0, "stale": self.stale, "failed": self.failed,
                "dropped_by_stream": by_stream, **self.extra_counts}

    def close(self, flush: bool = False) -> None:
        """Close sockets and rings; ``flush`` (a normal end) lets queued messages leave first."""
        if self.sender is not None:
            self.sender.close(linger_ms=10_000 if flush else 0)
        if self.receiver is not None:
            self.receiver.close()
        self.rings.close()
        for stream in list(self._rings):
            self.drop_stream(stream)
        from pipeline.security import stop_authenticators
        stop_authenticators()   # CURVE's ZAP threads, before the contexts are terminated


class Stage:
    """Override setup/process/close; ``run`` is the shared loop (capture overrides it).

    Subclasses take explicit constructor arguments (pipeline/stages/arguments.py
    maps a config to them) and do their heavy work (models, sources) in ``setup``,
    which also attaches the stage's IO.
    """
    max_batch = 1
    batch_wait_s = 0.0
    ready_frames = 1            # frames _gather takes without waiting when they are queued already
    control = None              # a telemetry.ControlListener when the supervisor has a control channel

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False   # set by SIGTERM/SIGINT
        self.finished = False   # set by a stage that has seen the end of every stream
        self.streams: set[str] | None = None   # the run's streams, when known: frames of others are dropped

    def setup(self, io: StageIO) -> None:
        self.io = io
        names = io.spec.options.get("stream_names")
        if names is not None:
            self.streams = set(names)

    def process(self, env: Envelope) -> Envelope | None:
        raise NotImplementedError

    def process_batch(self, envs: list[Envelope]) -> list[Envelope | None]:
        return [self.process(env) for env in envs]

    def on_eos(self, env: Envelope) -> Envelope | None:
        return env

    def close(self) -> None:
        pass

    def on_control(self, message: dict) -> None:
        """A supervisor message; ``streams`` names the run's streams now (checked: a list of strings)."""
        names = message.get("names")
        if message["kind"] != "streams" or not isinstance(names, list) \
                or not all(isinstance(n, str) for n in names):
            return
        for gone in (self.streams or set()) - set(names):
            self.io.rings.forget_stream(self.io.spec.run_prefix, gone)   # rings of it upstream are unlinked
            self.io.drop_stream(gone)
        self.streams = set(names)

    def run(self) -> None:
        errors = LogLimiter(log)
        while not (self.stopping or self.finished):
            try:
                self.run_once()
            except Exception as exc:   # nothing a message carries may end the loop: count it, say why
                self.io.failed += 1
                errors.warning("%s: dropped what it was handling after an error outside process(): %r",
                               self.name, exc)

    def run_once(self) -> None:
        """One turn of the loop: what arrived within 100 ms (batched), processed and sent on."""
        envs = self._gather()
        frames = self._intake(envs)
        if frames:
            self._handle(frames)
        self._pass_eos(envs)

    def _intake(self, envs: list[Envelope]) -> list[Envelope]:
        """The frames to work on: slots the latest policy skipped are released, control messages
        handled, frames of streams removed at runtime dropped."""
        io = self.io
        for env in io.receiver.take_discarded():
            io.release(env)
        for message in self.control.poll() if self.control is not None else []:
            self.on_control(message)
        frames = [e for e in envs if e.kind != EOS]
        if self.streams is not None:      # a stream removed at runtime: nothing of it goes on
            for env in (e for e in frames if e.stream not in self.streams):
                io.release(env)
            frames = [e for e in frames if e.stream in self.streams]
        io.wait_streams.update(e.stream for e in frames if e.meta.get("policy") == "wait")
        return frames

    def _pass_eos(self, envs: list[Envelope]) -> None:
        io = self.io
        for env in envs:
            if env.kind == EOS:
                env.meta.setdefault("counts", {})[self.name] = io.counts()   # final counters ride on EOS
                out = self.on_eos(env)
                if out is not None and io.sender is not None:
                    io.sender.send(out, lambda: self.stopping)

    def _gather(self, timeout_ms: int = 100, limit: int | None = None) -> list[Envelope]:
        """The first message within ``timeout_ms``, what else is ready now (up to ``limit`` frames,
        default ``ready_frames``), and, for batches, more within ``batch_wait_s`` until one is full."""
        envs = self.io.receiver.recv(timeout_ms=timeout_ms)
        if not envs:
            return envs
        limit = self.ready_frames if limit is None else limit
        while sum(e.kind != EOS for e in envs) < limit:
            more = self.io.receiver.recv(timeout_ms=0)
            if not more:
                break
            envs += more
        if self.max_batch <= 1:
            return envs
        deadline = time.monotonic() + self.batch_wait_s
        while sum(e.kind != EOS for e in envs) < self.max_batch:
            left_ms = int((deadline - time.monotonic()) * 1e3)
            if left_ms <= 0:
                break
            envs += self.io.receiver.recv(timeout_ms=left_ms)
        return envs

    def _handle(self, frames: list[Envelope]) -> None:
        io = self.io
        io.blocked_s = 0.0
        t_in = time.time()
        try:
            outs = self.process_batch(frames)
        except StaleSlot:
            outs = [None] * len(frames)
            io.stale += len(frames)
        except Exception:   # a bad frame must not take the stage down: drop it, count it, say why
            log.exception("%s: dropped %d frame(s) after an error", self.name, len(frames))
            outs = [None] * len(frames)
            io.failed += len(frames)
        t_out = time.time()
        # waiting for a downstream slot is queueing: it shows in the hop, not the stage
        self._send_results(frames, outs, t_in + io.blocked_s, t_out)

    def _send_results(self, frames: list[Envelope], outs: list, t_in: float, t_out: float) -> None:
        """Release what the frames held, stamp the stage's time on each result and send it on."""
        io = self.io
        for env, out in zip(frames, outs):
            if out is not None and not io.still_valid(env):
                io.stale += 1          # a slot we read was overwritten while we worked
                out = None
            io.release(env, keep=out)
            if out is None or io.sender is None:
                continue
            out.stamp(self.name.split(".")[0], t_in, t_out)
            out.meta.setdefault("counts", {})[self.name] = io.counts()
            io.sender.send(out, lambda: self.stopping)


def install_stop_handlers(stage: Stage) -> None:
    def _stop(signum, frame):
        stage.stopping = True
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
