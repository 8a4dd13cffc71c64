"""Optional parts of the install (``pip install 'streamdet[torch]'`` ...), found without importing them.

A feature that needs an extra that is not installed fails with one line naming
the extra: ``ExtraMissing`` is a ``RuntimeError`` the command line and the
stages report as a user error (exit code 2).
"""
from __future__ import annotations

import importlib.util

EXTRA_OF = {"torch": "torch", "torchvision": "torch", "cupy": "gpu", "tensorrt": "tensorrt"}


class ExtraMissing(RuntimeError):
    """A feature needs an optional dependency that is not installed."""


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, feature: str) -> None:
    """Raise ExtraMissing (one line, naming the extra) unless ``module`` can be imported."""
    if not installed(module):
        extra = EXTRA_OF.get(module, module)
        raise ExtraMissing(f"{feature} needs {module}, which is not installed: "
                           f"pip install 'streamdet[{extra}]'")
