"""Pick the engine to run a detector: an explicit request checked, or 'auto' by what is usable here.

``auto`` order: TensorRT > ONNX Runtime GPU > PyTorch CUDA > ONNX Runtime CPU > PyTorch CPU.
What is installed comes from ``probe_installed()`` (which imports torch only on a
machine with an NVIDIA device, to ask whether CUDA works); tests pass their own
``Installed`` so every branch runs without the hardware. A request that cannot
be met raises ``EngineUnavailable`` with one line: what is missing, how to get it.
"""
from __future__ import annotations

import importlib.util
import inspect
import logging
from dataclasses import dataclass

from pathlib import Path

from engines.base import ENGINES, Engine, EngineUnavailable, engine_class, normalise_device
from engines.onnxruntime_engine import ort_gpu_missing
from engines.tensorrt_engine import TRT_MISSING

log = logging.getLogger("streamdet.engine")
AUTO_ORDER = (("tensorrt", "cuda"), ("onnxruntime", "cuda"), ("torch", "cuda"),
              ("onnxruntime", "cpu"), ("torch", "cpu"))
COMMON_OPTIONS = ("half", "max_batch", "threads")
NO_CUDA_FOR_ORT = ("engine 'onnxruntime' on CUDA needs a visible NVIDIA GPU (torch.cuda.is_available() is "
                   "False): check the driver and CUDA_VISIBLE_DEVICES, or use device 'cpu'")

__all__ = ["Installed", "probe_installed", "choose_engine", "make_engine", "EngineUnavailable"]


@dataclass(frozen=True)
class Installed:
    """What this machine can run."""
    torch: bool = True                       # torch is installed (the [torch] extra)
    torch_cuda: bool = False                 # torch sees a CUDA GPU
    onnx: bool = True                        # the onnx package, needed to export torch modules
    onnxruntime: bool = True
    ort_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    tensorrt: bool = False                   # the tensorrt package imports

    @property
    def ort_cuda(self) -> bool:
        """ONNX Runtime can run on the GPU (IO binding also needs torch's CUDA buffers)."""
        return self.onnxruntime and "CUDAExecutionProvider" in self.ort_providers and self.torch_cuda


NVIDIA_DEVICE = Path("/dev/nvidiactl")


def _torch_sees_cuda(has_torch: bool) -> bool:
    """torch.cuda.is_available(), asked only where an NVIDIA device exists (importing torch costs)."""
    if not has_torch or not NVIDIA_DEVICE.exists():
        return False
    import torch
    return torch.cuda.is_available()


def probe_installed() -> Installed:
    """Look at this machine (imports onnxruntime; torch only on a machine with an NVIDIA device)."""
    has_torch = importlib.util.find_spec("torch") is not None
    try:
        import onnxruntime
        providers, has_ort = tuple(onnxruntime.get_available_providers()), True
    except ImportError:
        providers, has_ort = (), False
    return Installed(torch=has_torch, torch_cuda=_torch_sees_cuda(has_torch),
                     onnx=importlib.util.find_spec("onnx") is not None,
                     onnxruntime=has_ort, ort_providers=providers,
                     tensorrt=importlib.util.find_spec("tensorrt") is not None)


def has_torch_module(detector) -> bool:
    return detector.has_torch_module()


def has_onnx_file(detector) -> bool:
    return getattr(detector, "onnx_path", None) is not None


def why_not(engine: str, device: str, detector, installed: Installed) -> str | None:
    """None when ``engine`` can run ``detector`` on ``device`` ('cpu'/'cuda'), else the one-line reason."""
    on_gpu = device.startswith("cuda")
    if engine == "triton":
        from engines.triton_engine import TRITONCLIENT_MISSING
        return None if importlib.util.find_spec("tritonclient") else TRITONCLIENT_MISSING
    if engine == "torch":
        if not installed.torch:
            return "engine 'torch' needs torch, which is not installed: pip install 'streamdet[torch]'"
        if not has_torch_module(detector):
            return (f"engine 'torch' cannot run {detector.name}, which exists only as ONNX "
                    f"({detector.onnx_path}): use engine 'onnxruntime' or 'tensorrt'")
        if on_gpu and not installed.torch_cuda:
            return ("engine 'torch' on CUDA needs a CUDA build of torch and a visible NVIDIA GPU "
                    "(torch.cuda.is_available() is False): install a CUDA wheel from pytorch.org or use device 'cpu'")
        return None
    if not has_onnx_file(detector) and not (installed.onnx and installed.torch):
        return (f"engine '{engine}' needs torch and onnx to export {detector.name} to ONNX: "
                f"pip install 'streamdet[torch]'")
    if engine == "onnxruntime":
        if not installed.onnxruntime:
            return "engine 'onnxruntime' needs the 'onnxruntime' package: pip install onnxruntime (or onnxruntime-gpu)"
        if on_gpu and "CUDAExecutionProvider" not in installed.ort_providers:
            return ort_gpu_missing(installed.ort_providers)
        if on_gpu and not installed.torch_cuda:
            return NO_CUDA_FOR_ORT
        return None
    if not on_gpu:
        return "engine 'tensorrt' runs only on an NVIDIA GPU, not on device 'cpu': use 'onnxruntime' or 'torch'"
    if not installed.tensorrt or not installed.torch_cuda:
        return TRT_MISSING
    return None


def _candidates(requested: str, device: str, installed: Installed) -> list[tuple[str, str]]:
    if requested != "auto":
        if device != "auto":
            return [(requested, device)]
        gpu_first = {"tensorrt": True, "onnxruntime": installed.ort_cuda, "torch": installed.torch_cuda}
        return [(requested, "cuda:0" if gpu_first.get(requested) else "cpu")]   # triton: the client side
    order = [(name, "cuda:0" if kind == "cuda" else "cpu") for name, kind in AUTO_ORDER]
    if device == "cpu":
        return [pair for pair in order if pair[1] == "cpu"]
    if device.startswith("cuda"):
        return [(name, device) for name, dev in order if dev != "cpu"]
    return order


def _ranked(requested: str, detector, device: str, installed: Installed | None):
    if requested != "auto" and requested not in ENGINES:
        raise ValueError(f"engine must be 'auto' or one of {', '.join(ENGINES)}, not {requested!r}")
    device = normalise_device(device)
    installed = installed or probe_installed()
    return [(name, dev, why_not(name, dev, detector, installed))
            for name, dev in _candidates(requested, device, installed)]


def choose_engine(requested: str, detector, *, device: str = "auto",
                  installed: Installed | None = None) -> tuple[str, str, str]:
    """-> (engine name, device, reason for the log)."""
    return _usable(_ranked(requested, detector, device, installed), requested)[0]


def _usable(ranked, requested: str) -> list[tuple[str, str, str]]:
    """The usable candidates, in order, with their reasons; EngineUnavailable when there are none."""
    usable, skipped = [], []
    for name, dev, problem in ranked:
        if problem:
            skipped.append(f"{name} on {dev} skipped ({problem.split(': ', 1)[0]})")
        elif requested == "auto":
            usable.append((name, dev, AUTO_REASON + "".join(f"; {line}" for line in skipped)))
        else:
            usable.append((name, dev, f"requested engine {name}"))
    if usable:
        return usable
    if len(ranked) == 1:
        raise EngineUnavailable(ranked[0][2])
    raise EngineUnavailable("no engine can run here: " + "; ".join(problem for _, _, problem in ranked))


AUTO_REASON = "auto: first usable of tensorrt > onnxruntime GPU > torch CUDA > onnxruntime CPU > torch CPU"


def make_engine(requested: str, detector, *, device: str = "auto", installed: Installed | None = None,
                load: bool = True, **options) -> Engine:
    """Choose, construct and (by default) load an engine; logs the choice and why.

    ``options`` are engine keyword arguments (half, max_batch, threads, compile, ...);
    each engine gets those it accepts. With 'auto', an engine that fails to load
    with EngineUnavailable is skipped for the next one in the order.
    """
    _check_options(options)
    choices = _usable(_ranked(requested, detector, device, installed), requested)
    for position, (name, dev, reason) in enumerate(choices):
        cls = engine_class(name)
        accepted = inspect.signature(cls.__init__).parameters
        engine = cls(detector, device=dev, **{k: v for k, v in options.items() if k in accepted})
        log.info("engine %s on %s for %s: %s", name, dev, detector.name, reason)
        if not load:
            return engine
        try:
            engine.load()
        except EngineUnavailable as exc:
            if requested != "auto" or position == len(choices) - 1:
                raise
            log.warning("engine %s on %s could not load (%s); trying the next", name, dev, exc)
            continue
        log.info("engine ready: %s", engine.meta.describe())
        return engine
    raise EngineUnavailable(f"no engine could load {detector.name}")


def _check_options(options: dict) -> None:
    known = set(COMMON_OPTIONS)
    for name in ENGINES:
        known |= set(inspect.signature(engine_class(name).__init__).parameters)
    unknown = sorted(set(options) - known - {"self", "detector"})
    if unknown:
        known -= {"self", "detector", "device"}
        raise TypeError(f"make_engine: unknown engine option(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))}")
