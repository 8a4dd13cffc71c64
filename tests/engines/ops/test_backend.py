"""The dispatchers pick the NumPy or torch twin from the input type and return that type."""
import numpy as np
import torch

from engines.core.spec import PreprocessSpec
from engines.ops import backend
from engines.ops.centernet_decode import centernet_decode
from engines.ops.nms import batched_nms, nms
from engines.ops.yolo_decode import yolo_decode
from tests.engines.ops.cases import random_case, random_centernet_heads, random_yolo_pred

torch.set_num_threads(1)


def test_nms_dispatch_numpy_and_torch():
    boxes, scores, class_ids = random_case(np.random.default_rng(0), 80)
    keep = backend.nms(boxes, scores, 0.5)
    assert isinstance(keep, np.ndarray)
    np.testing.assert_array_equal(keep, nms(boxes, scores, 0.5))
    keep_t = backend.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                 torch.from_numpy(class_ids), 0.5)
    assert isinstance(keep_t, torch.Tensor)
    np.testing.assert_array_equal(keep_t.numpy(), batched_nms(boxes, scores, class_ids, 0.5))


def test_decoder_dispatch_numpy_and_torch():
    rng = np.random.default_rng(1)
    pred = random_yolo_pred(rng, "v8", 300, 4)
    ours = backend.yolo_decode(pred, layout="v8", conf_threshold=0.2)
    via_torch = backend.yolo_decode(torch.from_numpy(pred), layout="v8", conf_threshold=0.2)
    assert isinstance(ours[0], np.ndarray) and isinstance(via_torch[0], torch.Tensor)
    np.testing.assert_array_equal(ours[0], yolo_decode(pred, layout="v8", conf_threshold=0.2)[0])
    np.testing.assert_array_equal(ours[0], via_torch[0].numpy())
    heads = random_centernet_heads(rng, 2, 10, 10)
    np.testing.assert_array_equal(backend.centernet_decode(*heads, k=7)[0],
                                  centernet_decode(*heads, k=7)[0])
    from_torch = backend.centernet_decode(*(torch.from_numpy(h) for h in heads), k=7)
    assert isinstance(from_torch[0], torch.Tensor)


def test_letterbox_dispatch():
    spec = PreprocessSpec(16, 16)
    frame = np.full((8, 4, 3), 200, np.uint8)
    tensor, box = backend.letterbox(frame, spec)
    assert isinstance(tensor, np.ndarray) and box.resized_w == 8
    tensor_t, _ = backend.letterbox(torch.from_numpy(frame), spec)
    assert isinstance(tensor_t, torch.Tensor)
    np.testing.assert_allclose(tensor, tensor_t.numpy(), atol=1e-6)


def test_array_module_is_reexported():
    import engines.ops
    assert engines.ops.array_module(np.zeros(2)) is np
    assert backend.array_module is engines.ops.array_module
