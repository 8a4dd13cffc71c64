"""Errors of a run as a whole (raised by the supervisor and its helpers, one line for the user)."""
from __future__ import annotations


class PipelineError(RuntimeError):
    """The run cannot go on; the message is one line for the user."""
