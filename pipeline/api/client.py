"""``run_pipeline.py streams list|add|remove``: a small HTTP client of the control API (urllib)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


class ApiClientError(RuntimeError):
    """The API answered with an error or could not be reached: one line for the user."""


def parse_api_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ValueError with one line otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--api {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8780")
    return host, int(port)


def request(address: str, method: str, path: str, body: dict | None = None,
            token: str | None = None, timeout_s: float = 20.0) -> tuple[int, dict | None]:
    host, port = parse_api_address(address)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            reason = json.loads(raw).get("error", raw.decode(errors="replace"))
        except ValueError:
            reason = raw.decode(errors="replace").strip() or exc.reason
        raise ApiClientError(f"{method} {path}: {exc.code} {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        raise ApiClientError(f"no streamdet API at {host}:{port} ({why}); is the pipeline running "
                             "with its API on (run --api HOST:PORT)?") from None


def format_streams(listing: dict) -> str:
    rows = [f"{'name':<16}{'state':<14}{'fps':>7}{'frames':>9}{'dropped':>9}{'reconn':>8}  uri"]
    for s in listing["streams"]:
        rows.append(f"{s['name']:<16}{s['state']:<14}{s['fps']:>7.1f}{s['frames']:>9}{s['dropped']:>9}"
                    f"{s['reconnects']:>8}  {s['uri']}")
    return "\n".join(rows)
