"""Headless Chromium (Debian package ``chromium``) screenshots of a page, for tests that check pixels.

    png = screenshot("http://127.0.0.1:8780/", tmp_path)      # -> Path of the PNG

A fresh profile per call, no network beyond the page, no GPU; ``wait_ms`` of virtual time
lets the page's scripts run and its MJPEG images receive frames before the picture is taken.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")


def binary() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def unavailable_reason() -> str | None:
    return None if binary() else "chromium not installed (Debian package chromium, see .ci/apt-packages.txt)"


def screenshot(url: str, workdir: Path, width: int = 1280, height: int = 800, wait_ms: int = 3000,
               timeout_s: float = 120.0) -> Path:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    png = workdir / "screenshot.png"
    profile = workdir / "profile"
    profile.mkdir(exist_ok=True)
    args = [binary(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--virtual-time-budget={wait_ms}", f"--screenshot={png}", url]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
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
