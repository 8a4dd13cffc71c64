"""Choosing ONNX Runtime's CPU budget on a running pipeline's frames (``threads: auto``).

The load-time calibration (engines/threads.py) times the engine alone, with every
core free; in a pipeline the capture, preprocess, postprocess and sink processes
need CPU too, and a budget that is fastest alone (all cores, spinning) can starve
them. ``PipelineTuning`` gives the inference stage what it needs to try each
candidate on real frames and keep the one the pipeline runs fastest with
(pipeline/stages/budget_tuner.py decides): a session per candidate, built and
warmed up before frames flow, ``use_budget`` to switch between them, and
``keep_budget`` to keep one and cache it per model, machine and ``context`` (the
hop policy: a live pipeline and a no-drop one may want different budgets).
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from engines.threads import AUTO, CpuBudget, cache_key, load_cached_entry, store_cached, usable_cores


class PipelineTuning:
    """Mixed into the ONNX Runtime engine; needs ``self._auto`` (set when threads is 'auto' on CPU)
    and ``self._new_session(budget)``."""

    def _pipeline_key(self, context: str) -> str:
        auto = self._auto
        return cache_key(f"{self.name}-pipeline", auto["model_id"], (*auto["extra"], context))

    def cached_pipeline_budget(self, context: str) -> dict | None:
        """The record a pipeline stored for this model in ``context`` (None: none, or not 'auto')."""
        if self._auto is None:
            return None
        budget, record = load_cached_entry(self._pipeline_key(context))
        return record if budget is not None else None

    def tuning_candidates(self, context: str) -> list[CpuBudget]:
        """The budgets to try in a pipeline, each with its session ready; [] when threads are not
        'auto' or a pipeline in ``context`` chose before (its choice is used from now on)."""
        if self._auto is None:
            return []
        self._tune_context = context
        cached, _ = load_cached_entry(self._pipeline_key(context))
        if cached is not None:
            if cached != self.budget:
                self.session = self._warm(self._new_session(cached))
                self.budget = cached
            self._set_info(cached, "pipeline cache")
            return []
        self._sessions = {b: self.session if b == self.budget else self._warm(self._new_session(b))
                          for b in self._auto["candidates"]}
        return list(self._sessions)

    def use_budget(self, budget: CpuBudget) -> None:
        self.session, self.budget = self._sessions[budget], budget

    def keep_budget(self, budget: CpuBudget, timings: dict) -> None:
        """Keep ``budget`` (its session), free the others, cache the choice."""
        self.use_budget(budget)
        self._sessions = {}
        store_cached(self._pipeline_key(self._tune_context), budget, timings)
        self._set_info(budget, "pipeline tuned", timings)

    def _set_info(self, budget: CpuBudget, source: str, timings: dict | None = None) -> None:
        self.budget_info = {"threads": AUTO, "source": source, "cores": usable_cores(), **asdict(budget),
                            "parallel": getattr(self, "parallel_runs", 1),
                            **({"pipeline_timings": timings} if timings else {})}
        self.meta.cpu_budget = dict(self.budget_info)

    def _warm(self, session):
        """One run at the detector's input size (an export with symbolic height and width has no
        size of its own), so a budget's first window does not pay for the first run."""
        model_input = session.get_inputs()[0]
        spec = self.detector.spec
        dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        session.run(None, {model_input.name: np.zeros((1, 3, spec.height, spec.width), dtype)})
        return session
