"""MQTT sink (paho-mqtt): detections, events and a retained per-stream status on a broker.

Topics, with ``topic_prefix`` P (default ``streamdet``):
- ``P/<stream>/detections``: every fast-path message, the same JSON as the ZeroMQ payload;
- ``P/<stream>/<rest>`` for a message written with topic ``<stream>/<rest>`` (``cam0/events``
  from the trackers' analytics, ``cam0/maskrcnn`` from the side branch);
- ``P/<stream>/status``: retained ``online`` while the stream runs, ``offline`` when it ends.

Each stream has its own connection because a connection carries one last will: the broker
itself publishes ``offline`` for every stream of a pipeline that is killed (SIGKILL, power).

Never blocking the sink: paho's network loop runs in its own thread (``loop_start``) and
``write`` only queues. A message is dropped, and counted, while the broker is unreachable
or when ``max_pending`` messages are already waiting to be written. An unreachable broker
at start is a warning; paho retries in the background (1 s doubling to 10 s) and every
reconnect publishes ``online`` again.
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque

import paho.mqtt.client as mqtt

from pipeline.schema import dumps
from pipeline.sinks.mqtt_settings import check

log = logging.getLogger("streamdet.mqtt")
ONLINE, OFFLINE = b"online", b"offline"
CLOSE_TIMEOUT_S = 3.0


def topic_segment(name: str) -> str:
    """A stream name as one MQTT topic level (no level separator or wildcard inside)."""
    return "".join("_" if c in "/+#\0" else c for c in name) or "_"


class Counters:
    """Thread-safe publish counters shared by a writer's connections."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published = self.dropped = self.pending = 0

    def add(self, **deltas: int) -> None:
        with self.lock:
            for key, delta in deltas.items():
                setattr(self, key, getattr(self, key) + delta)


class StreamLink:
    """One paho client for one stream: its will, its status, its publishes."""

    def __init__(self, settings: dict, stream: str, counters: Counters) -> None:
        self.settings, self.counters = settings, counters
        self.base = f"{settings['topic_prefix']}/{topic_segment(stream)}"
        self.status_topic = self.base + "/status"
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._ever_connected = False
        self._early: deque[tuple[str, bytes]] = deque()     # written before the first connect
        self._failures = 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"streamdet-{os.getpid()}-{topic_segment(stream)}-{uuid.uuid4().hex[:6]}")
        if settings["username"] is not None:
            client.username_pw_set(settings["username"], settings["password"])
        if settings["tls"]:
            client.tls_set(ca_certs=settings["ca_certs"])    # verifies the broker's certificate and name
        client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_connect_fail, client.on_publish = self._on_connect_fail, self._on_publish
        self.client = client
        client.connect_async(settings["host"], settings["port"], keepalive=10)
        client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._warn(f"refused: {reason_code}")
            return
        self._failures = 0
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        with self._lock:          # the waiting messages go out before any new one (in order)
            self._ever_connected = True
            while self._early:
                self._send(*self._early.popleft())
            self.connected.set()
        log.info("mqtt %s: connected to %s:%s", self.base, self.settings["host"], self.settings["port"])

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and reason_code != 0:
            self._warn(f"lost the broker ({reason_code}); reconnecting, messages are dropped meanwhile")
        self.connected.clear()

    def _on_connect_fail(self, client, userdata) -> None:
        self._warn("broker unreachable (or the TLS handshake failed); retrying in the background, "
                   "messages are dropped meanwhile")

    def _warn(self, what: str) -> None:
        self._failures += 1
        if self._failures in (1, 10) or self._failures % 100 == 0:    # not one line per retry
            log.warning("mqtt %s:%s: %s", self.settings["host"], self.settings["port"], what)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.counters.add(pending=-1)

    def publish(self, subtopic: str, payload: bytes) -> bool:
        """Queue one message; False (counted as dropped) when it cannot go out now.

        Before the first connection messages wait (at most ``max_pending``), so a run's first
        frames are not lost to the connect handshake; after it, a lost broker means drops.
        """
        topic = f"{self.base}/{subtopic}"
        with self._lock:
            if not self.connected.is_set():
                if self._ever_connected or len(self._early) >= self.settings["max_pending"]:
                    self.counters.add(dropped=1)
                    return False
                self._early.append((topic, payload))
                return True
        return self._send(topic, payload)

    def _send(self, topic: str, payload: bytes) -> bool:
        if self.counters.pending >= self.settings["max_pending"]:
            self.counters.add(dropped=1)
            return False
        self.counters.add(pending=1)
        info = self.client.publish(topic, payload, qos=self.settings["qos"])
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.counters.add(pending=-1, dropped=1)
            return False
        self.counters.add(published=1)
        return True

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Retained ``offline`` (waited for, bounded), then a clean disconnect (no will)."""
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass
            if not info.is_published():
                log.warning("mqtt %s: could not publish offline; the broker's will says it", self.base)
            self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            self.counters.add(dropped=len(self._early))     # never connected: they never went out
            self._early.clear()


class MqttWriter:
    """A sink writer: ``write(message, frame=None, topic=None)`` like the ZeroMQ Publisher."""

    def __init__(self, settings: dict) -> None:
        self.settings = check(settings)
        self.counters = Counters()
        self.links: dict[str, StreamLink] = {}
        log.info("mqtt: publishing to %s:%s under %s/", self.settings["host"], self.settings["port"],
                 self.settings["topic_prefix"])

    def link(self, stream: str) -> StreamLink:
        if stream not in self.links:
            self.links[stream] = StreamLink(self.settings, stream, self.counters)
        return self.links[stream]

    def write(self, message: dict, frame=None, topic: str | None = None) -> None:
        stream = message["stream"]
        subtopic = "detections"
        if topic:
            head, _, rest = topic.partition("/")
            stream, subtopic = head, rest or "detections"
        payload = dumps(message, "json")                 # byte for byte the ZeroMQ JSON payload
        self.link(stream).publish(subtopic, payload)

    def end_stream(self, stream: str) -> None:
        """The stream ended (its end of stream reached the sink): retained ``offline`` now."""
        link = self.links.pop(stream, None)
        if link is not None:
            link.close()

    def stats(self) -> dict:
        return {"published": self.counters.published, "dropped": self.counters.dropped}

    def close(self) -> None:
        for stream in list(self.links):
            self.end_stream(stream)
        if self.counters.dropped:
            log.warning("mqtt: %d of %d messages dropped (broker unreachable or too slow)",
                        self.counters.dropped, self.counters.dropped + self.counters.published)
