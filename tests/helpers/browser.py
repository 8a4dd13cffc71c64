"""Headless browser screenshots of a page, for tests that check pixels: Chromium (Debian package
``chromium``) and Firefox (Debian package ``firefox-esr``).

    png = screenshot("http://127.0.0.1:8780/", tmp_path, browser="firefox")   # -> Path of the PNG

A fresh profile per call, no network beyond the page, no GPU.

Chromium: ``--screenshot`` with ``wait_ms`` of virtual time, which lets the page's scripts run and
its MJPEG images receive frames before the picture is taken.

Firefox: its ``--screenshot`` flag takes the picture as soon as the page's ``load`` event fires,
before the preview page's script has added its cards and their MJPEG ``<img>`` has a first frame
(the picture shows the alt text). So Firefox is driven over Marionette, its built-in remote
protocol (``--marionette``, no geckodriver or Python client needed: length-prefixed JSON on a
loopback port the browser writes to ``MarionetteActivePort`` in the profile): navigate, poll
until ``ready_js`` holds (by default ``LIVE_IMAGES``: every image shows a picture and two more
frames arrived after it), let it paint, take the viewport's screenshot, quit.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

BROWSERS = ("chromium", "firefox")
CANDIDATES = {"chromium": ("chromium", "chromium-browser", "google-chrome"),
              "firefox": ("firefox-esr", "firefox")}
PACKAGES = {"chromium": "chromium", "firefox": "firefox-esr"}
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
# Firefox fires an <img>'s load event for every part of a multipart/x-mixed-replace (MJPEG)
# response; its `complete` stays false, the stream never ends. Ready: the page has images, each
# has a picture and has received two new ones since the first call (live, not one still frame).
LIVE_IMAGES = """
const images = Array.from(document.images);
for (const img of images) {
  if (img.dataset.shotLoads === undefined) {
    img.dataset.shotLoads = "0";
    img.addEventListener("load", () => { img.dataset.shotLoads = String(Number(img.dataset.shotLoads) + 1); });
  }
}
return images.length > 0 && images.every(img => img.naturalWidth > 0 && Number(img.dataset.shotLoads) >= 2);
"""
# A fresh Firefox profile: Marionette on a free port, nothing fetched from the internet.
# (Marionette also applies its own recommended prefs, remote.prefs.recommended.)
FIREFOX_PREFS = {
    "marionette.port": 0,
    "network.proxy.type": 0,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
}


def binary(browser: str = "chromium") -> str | None:
    return next((path for name in CANDIDATES[browser] if (path := shutil.which(name))), None)


def unavailable_reason(browser: str = "chromium") -> str | None:
    if binary(browser):
        return None
    return f"{browser} not installed (Debian package {PACKAGES[browser]}, see .ci/apt-packages.txt)"


def params() -> list:
    """``pytest.param`` per browser, each skipped with its reason when the browser is missing:
    ``@pytest.mark.parametrize("name", browser.params())``."""
    import pytest
    return [pytest.param(name, id=name, marks=pytest.mark.skipif(unavailable_reason(name) is not None,
                                                                  reason=str(unavailable_reason(name))))
            for name in BROWSERS]


def version(browser: str = "chromium") -> str:
    """What ``--version`` prints, e.g. 'Mozilla Firefox 153.8.0esr'."""
    result = subprocess.run([binary(browser), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def screenshot(url: str, workdir: Path, width: int = 1280, height: int = 800, wait_ms: int = 3000,
               timeout_s: float = 120.0, browser: str = "chromium", ready_js: str = LIVE_IMAGES) -> Path:
    """PNG of ``url`` in a ``width`` x ``height`` viewport. ``wait_ms``: Chromium's virtual time;
    ``ready_js``: Firefox's wait (a script body returning true when the page is ready)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if browser == "firefox":
        return _firefox_screenshot(url, workdir, width, height, timeout_s, ready_js)
    if browser != "chromium":
        raise ValueError(f"unknown browser {browser!r}, expected one of {BROWSERS}")
    png = workdir / "screenshot.png"
    profile = workdir / "profile"
    profile.mkdir(exist_ok=True)
    args = [binary("chromium"), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--virtual-time-budget={wait_ms}", f"--screenshot={png}", url]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return png


class Marionette:
    """The few Marionette (protocol 3) commands a screenshot needs: ``[0, id, name, params]`` out,
    ``[1, id, error, result]`` back, each framed as ``LENGTH:JSON``."""

    def __init__(self, port: int, timeout_s: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.file = self.sock.makefile("rb")
        self.last_id = 0
        hello = self._receive()
        if hello.get("marionetteProtocol") != 3:
            raise RuntimeError(f"unexpected Marionette greeting {hello!r}")

    def _receive(self):
        length = b""
        while (char := self.file.read(1)) != b":":
            if not char:
                raise ConnectionError("Marionette closed the connection")
            length += char
        return json.loads(self.file.read(int(length)))

    def command(self, name: str, params: dict | None = None):
        self.last_id += 1
        body = json.dumps([0, self.last_id, name, params or {}]).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body)
        kind, reply_id, error, result = self._receive()
        if kind != 1 or reply_id != self.last_id:
            raise RuntimeError(f"unexpected Marionette reply to {name}: {[kind, reply_id, error]}")
        if error:
            raise RuntimeError(f"Marionette {name}: {error.get('error')}: {error.get('message')}")
        return result

    def script(self, body: str, asynchronous: bool = False):
        name = "WebDriver:ExecuteAsyncScript" if asynchronous else "WebDriver:ExecuteScript"
        return self.command(name, {"script": body, "args": []})["value"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _firefox_screenshot(url: str, workdir: Path, width: int, height: int, timeout_s: float,
                        ready_js: str) -> Path:
    deadline = time.monotonic() + timeout_s
    png, profile, log = workdir / "screenshot.png", workdir / "profile", workdir / "firefox.log"
    profile.mkdir(exist_ok=True)
    (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                             for k, v in FIREFOX_PREFS.items()))
    port_file = profile / "MarionetteActivePort"
    port_file.unlink(missing_ok=True)
    # HOME and XDG_CACHE_HOME in workdir: even with -profile Firefox writes its cache to ~/.cache/mozilla.
    env = {**os.environ, "MOZ_HEADLESS": "1", "HOME": str(workdir), "XDG_CACHE_HOME": str(workdir / "cache"),
           "MOZ_CRASHREPORTER_DISABLE": "1"}
    args = [binary("firefox"), "--headless", "--marionette", "--no-remote", "-profile", str(profile),
            "about:blank"]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    client = None
    try:
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"firefox did not start Marionette ({process.poll()}): "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        client = Marionette(int(port_file.read_text()), timeout_s=max(5.0, deadline - time.monotonic()))
        client.command("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {"pageLoadStrategy": "eager"}}})
        client.command("WebDriver:SetWindowRect", {"width": width, "height": height})
        inner = client.script("return [window.innerWidth, window.innerHeight];")
        client.command("WebDriver:SetWindowRect", {"width": 2 * width - inner[0], "height": 2 * height - inner[1]})
        client.command("WebDriver:Navigate", {"url": url})
        while not client.script(ready_js):
            if time.monotonic() > deadline:
                raise TimeoutError(f"firefox: {url} not ready within {timeout_s} s: {ready_js.strip()[-300:]}")
            time.sleep(0.1)
        # Two animation frames: what is ready is painted before the picture is taken.
        client.script("const done = arguments[arguments.length - 1];"
                      "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", asynchronous=True)
        png.write_bytes(base64.b64decode(client.command("WebDriver:TakeScreenshot", {"full": False})["value"]))
        try:
            client.command("Marionette:Quit", {"flags": ["eForceQuit"]})
        except (OSError, RuntimeError):
            pass                                  # it may close the connection before it answers
        try:
            process.wait(max(10.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass                                  # killed below
    finally:
        if client is not None:
            client.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)    # firefox and its content processes (own session)
            process.wait(30)
    return png


def read_rgb(png: Path) -> np.ndarray:
    bgr = cv2.imread(str(png), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"not an image: {png}")
    return bgr[:, :, ::-1]


def colour_mask(rgb: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    """Pixels within ``tolerance`` of ``colour`` on every channel (JPEG shifts colours a little)."""
    return (np.abs(rgb.astype(np.int16) - np.array(colour, np.int16)) <= tolerance).all(axis=2)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) of the True pixels, None when there are none."""
    ys, xs = np.nonzero(mask)
    return None if len(xs) == 0 else (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
