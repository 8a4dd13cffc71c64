"""Inference: batch tensors (across streams, up to max_batch within a wait budget), run the engine.

Raw outputs go on per frame; decoding is the postprocess stage's job, so this
process does nothing but feed the engine. It is the only stage that loads the
network (torch only when the engine is the torch one or the model must be exported).
With side-by-side runs (``engine.parallel`` > 1) batches start as they arrive and
leave in order (pipeline/stages/overlap.py).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from engines.base import EngineOffline
from engines.detectors import from_card
from engines.select import make_engine
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO
from pipeline.stages.budget_tuner import BudgetTuner
from pipeline.stages.gpu_preprocess import FramePreprocessor
from pipeline.stages.overlap import OverlappingRuns

log = logging.getLogger("streamdet.inference")


class InferenceStage(OverlappingRuns, Stage):
    def __init__(self, name: str, *, card: dict, engine: dict, batch_wait_s: float = 0.002) -> None:
        """``engine``: make_engine's arguments (name, device, half, max_batch, threads, parallel, flags)."""
        super().__init__(name)
        self.card, self.engine_options = card, dict(engine)
        self.max_batch = int(engine["max_batch"])
        self.batch_wait_s = batch_wait_s

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        self.detector = from_card(self.card)
        options = dict(self.engine_options)
        self.engine = make_engine(options.pop("name"), self.detector, **options)
        self.frames_in = FramePreprocessor(self.detector.spec, self.engine.meta.device)
        self.engine.warmup()
        self.engine_name = self.engine.meta.name
        receiver = getattr(io, "receiver", None)
        policy = receiver.policy if receiver is not None else "none"
        runs = self.engine.parallel_runs
        # threads 'auto': budgets tried on real frames; not with side-by-side runs, which carry the load then
        self.tuner = BudgetTuner(self.engine, context=policy if runs == 1 else "parallel")
        self.start_overlap(runs)

    def process_batch(self, envs: list[Envelope]) -> list[Envelope | None]:
        outs: list[Envelope | None] = []
        for start in range(0, len(envs), self.max_batch):
            outs += self._run(envs[start:start + self.max_batch])
        return outs

    def _batch_of(self, envs: list[Envelope]):
        if "input" in envs[0].arrays:
            tensors = [self.io.array(e, "input") for e in envs]
            return tensors[0][None] if len(tensors) == 1 else np.stack(tensors)
        return self.frames_in([self.io.array(e, "frame") for e in envs])   # letterbox left to this stage

    def _run(self, envs: list[Envelope]) -> list[Envelope | None]:
        batch = self._batch_of(envs)
        self.tuner.batch_started()
        started = time.perf_counter()
        try:
            outputs = self.engine.infer(batch)
            self.tuner.batch_done(len(envs), time.perf_counter() - started)
        except EngineOffline:          # remote engine down: drop and count, never queue
            self.io.dropped += len(envs)
            return [None] * len(envs)
        finally:
            self.io.extra_counts.update(getattr(self.engine, "stats", dict)())
        return self._emit(envs, outputs)

    def _emit(self, envs: list[Envelope], outputs: dict) -> list[Envelope | None]:
        """One outgoing envelope per frame, its outputs in this stage's shared-memory ring."""
        outs = []
        for i, env in enumerate(envs):
            shapes = {name: (value.shape[1:], value.dtype) for name, value in outputs.items()}
            arrays = self.io.alloc(shapes, lambda: self.stopping, stream=env.stream)
            if arrays is None:
                return outs + [None] * (len(envs) - len(outs))
            for name, value in outputs.items():
                arrays[name][...] = value[i]
            out = env.forward()
            out.arrays = self.io.commit(arrays)
            if "frame" in env.arrays:
                out.arrays["frame"] = env.arrays["frame"]
            out.meta["engine"] = self.engine_name
            out.meta["batch"] = len(envs)
            out.meta["device"] = str(self.engine.meta.device)
            outs.append(out)
        return outs

    def close(self) -> None:
        self.stop_overlap()
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()
