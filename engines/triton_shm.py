"""Triton system shared memory for one engine: an input region and one region per output.

Used when the server is on this host: the batch is copied once into /dev/shm and
Triton reads it there; outputs are written by the server into our regions, so no
tensor crosses the socket. Regions are registered under names unique to this
process; after a server restart they are registered again (``register``).
"""
from __future__ import annotations

import os
import uuid

import numpy as np

from engines.triton_check import ModelInfo


class SharedMemoryIO:
    def __init__(self, info: ModelInfo, max_batch: int, input_dtype: str, wanted: tuple[str, ...]) -> None:
        import tritonclient.utils.shared_memory as shm
        self._shm = shm
        tag = f"streamdet-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        image = info.inputs[0]
        self.input_name = image.name
        self.input_dtype = np.dtype(input_dtype)
        # outputs we decode with a known size; dynamic sizes come back over the socket
        self.outputs = [out for out in info.outputs if out.static and out.name in wanted]
        self.regions: dict[str, tuple[str, int, object]] = {}        # tensor -> (region name, bytes, handle)
        shapes = {image.name: (image.shape, self.input_dtype)}
        shapes.update({out.name: (out.shape, np.dtype(out.dtype)) for out in self.outputs})
        for tensor, (shape, dtype) in shapes.items():
            size = max_batch * int(np.prod(shape)) * dtype.itemsize
            region = f"{tag}-{len(self.regions)}"
            self.regions[tensor] = (region, size, shm.create_shared_memory_region(region, f"/{region}", size))

    def register(self, client) -> None:
        """(Re-)register every region with the server (unregistering a stale one first)."""
        for region, size, _ in self.regions.values():
            try:
                client.unregister_system_shared_memory(region)
            except Exception:
                pass    # not registered: a fresh server
            client.register_system_shared_memory(region, f"/{region}", size)

    def bind(self, batch: np.ndarray, infer_input, requested: dict) -> None:
        """Copy ``batch`` into the input region and point the request's tensors at the regions."""
        region, _, handle = self.regions[self.input_name]
        array = np.ascontiguousarray(batch, dtype=self.input_dtype)
        self._shm.set_shared_memory_region(handle, [array])
        infer_input.set_shared_memory(region, array.nbytes)
        for out in self.outputs:
            out_region, _, _ = self.regions[out.name]
            nbytes = len(batch) * int(np.prod(out.shape)) * np.dtype(out.dtype).itemsize
            requested[out.name].set_shared_memory(out_region, nbytes)

    def read(self, name: str, batch_size: int) -> np.ndarray | None:
        """An output the server wrote into our region (a copy: the region is reused), None if not ours."""
        out = next((o for o in self.outputs if o.name == name), None)
        if out is None:
            return None
        _, _, handle = self.regions[name]
        view = self._shm.get_contents_as_numpy(handle, np.dtype(out.dtype), [batch_size, *out.shape])
        return np.array(view)

    def close(self, client=None) -> None:
        for region, _, handle in self.regions.values():
            if client is not None:
                try:
                    client.unregister_system_shared_memory(region)
                except Exception:
                    pass    # server gone: nothing to unregister
            try:
                self._shm.destroy_shared_memory_region(handle)
            except Exception:
                pass
        self.regions = {}
