"""Inference: batch tensors (across streams, up to max_batch within a wait budget), run the engine.

Raw outputs go on per frame; decoding is the postprocess stage's job, so this
process does nothing but feed the engine.
"""
from __future__ import annotations

import logging

import numpy as np

from engines.detectors import make_detector
from engines.select import make_engine
from pipeline.stages.gpu_preprocess import FramePreprocessor
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO

log = logging.getLogger("streamdet.inference")


class InferenceStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        model, eng = self.spec.config["model"], self.spec.config["engine"]
        self.detector = make_detector(model["name"], model["weights"], model["size"])
        self.max_batch = eng["max_batch"]
        self.batch_wait_s = eng["batch_wait_ms"] / 1e3
        options = {k: eng[k] for k in ("compile", "cuda_graph", "tensorrt_ep") if eng[k]}
        if eng.get("spinning") is not None:
            options["spin"] = eng["spinning"]
        self.engine = make_engine(eng["name"], self.detector, device=eng["device"], half=eng["half"],
                                  max_batch=eng["max_batch"], threads=eng["threads"], **options)
        self.frames_in = FramePreprocessor(self.detector.spec, self.engine.meta.device)
        self.engine.warmup()
        self.engine_name = self.engine.meta.name

    def process_batch(self, envs: list[Envelope]) -> list[Envelope | None]:
        outs: list[Envelope | None] = []
        for start in range(0, len(envs), self.max_batch):
            outs += self._run(envs[start:start + self.max_batch])
        return outs

    def _run(self, envs: list[Envelope]) -> list[Envelope | None]:
        if "input" in envs[0].arrays:
            tensors = [self.io.array(e, "input") for e in envs]
            batch = tensors[0][None] if len(tensors) == 1 else np.stack(tensors)
        else:                    # preprocessing was left to this stage (GPU engine)
            batch = self.frames_in([self.io.array(e, "frame") for e in envs])
        outputs = self.engine.infer(batch)
        outs = []
        for i, env in enumerate(envs):
            shapes = {name: (value.shape[1:], value.dtype) for name, value in outputs.items()}
            arrays = self.io.alloc(shapes, lambda: self.stopping)
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
            outs.append(out)
        return outs

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()
