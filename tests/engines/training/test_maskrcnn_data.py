"""MaskedSyntheticBatches: masks follow the image through crop, letterbox and flip."""
import numpy as np
import pytest

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.training.data import SOURCE_H, SOURCE_W, SyntheticBatches
from engines.training.maskrcnn_data import (MaskedSyntheticBatches, letterbox_masks,
                                            resize_masks, torchvision_targets)
from pipeline.sources.synthetic import SyntheticScene

SPEC = PreprocessSpec(height=160, width=160)


def test_resize_keeps_pixels_at_least_half_covered():
    mask = np.zeros((1, 4, 4), bool)
    mask[0, 0, 0:2] = True            # top-left 2x2 block half covered -> kept
    mask[0, 2, 2] = True              # bottom-right block a quarter covered -> dropped
    out = resize_masks(mask, 2, 2)
    assert out.tolist() == [[[True, False], [False, False]]]
    assert resize_masks(np.zeros((0, 4, 4), bool), 2, 2).shape == (0, 2, 2)


def test_letterbox_masks_lands_in_the_padded_canvas():
    box = Letterbox.fit(4, 8, PreprocessSpec(height=8, width=8))     # scale 1, pad_y 2
    masks = np.ones((1, 4, 8), bool)
    canvas = letterbox_masks(masks, box, 8, 8)
    assert canvas[0, 2:6].all() and not canvas[0, :2].any() and not canvas[0, 6:].any()


def test_unaugmented_samples_match_the_letterboxed_ground_truth():
    data = MaskedSyntheticBatches(SPEC, seed=3, augment=False, scenes=SyntheticScene)
    sample = data.sample()
    first = np.random.default_rng(3)
    seed, frame_id = int(first.choice(range(1000, 1128))), int(first.integers(0, 30000))
    truth = SyntheticScene(seed, SOURCE_W, SOURCE_H).ground_truth(frame_id)
    box = Letterbox.fit(SOURCE_H, SOURCE_W, SPEC)
    expected = letterbox_masks(truth.masks, box, 160, 160)
    keep = expected.any(axis=(1, 2))
    np.testing.assert_array_equal(sample.masks.astype(bool), expected[keep])
    np.testing.assert_allclose(sample.boxes, box.to_input(truth.xyxy)[keep], atol=1e-4)


def test_augmented_masks_stay_inside_their_boxes_and_images_match_the_box_stream():
    masked = MaskedSyntheticBatches(SPEC, seed=5, scenes=SyntheticScene)
    plain = SyntheticBatches(SPEC, seed=5, scenes=SyntheticScene)
    for _ in range(12):
        sample, reference = masked.sample(), plain.sample()
        np.testing.assert_array_equal(sample.image, reference.image)     # same random draws
        assert sample.masks.shape == (len(sample.boxes), 160, 160)
        assert sample.masks.dtype == np.uint8 and sample.masks.max(initial=0) <= 1
        for mask, (x1, y1, x2, y2) in zip(sample.masks, sample.boxes):
            ys, xs = np.nonzero(mask)
            assert len(xs) > 0
            assert xs.min() >= np.floor(x1) - 1 and xs.max() < np.ceil(x2) + 1
            assert ys.min() >= np.floor(y1) - 1 and ys.max() < np.ceil(y2) + 1


def test_targets_shift_labels_past_the_background():
    sample = MaskedSyntheticBatches(SPEC, seed=1, scenes=SyntheticScene).sample()
    target = torchvision_targets([sample])[0]
    assert target["labels"].tolist() == (sample.labels + 1).tolist()
    assert target["boxes"].shape == (len(sample.boxes), 4)
    assert tuple(target["masks"].shape) == (len(sample.boxes), 160, 160)


@pytest.mark.parametrize("seed", [0, 9])
def test_stream_is_deterministic_for_a_seed(seed):
    a, b = MaskedSyntheticBatches(SPEC, seed, scenes=SyntheticScene), MaskedSyntheticBatches(SPEC, seed, scenes=SyntheticScene)
    for _ in range(3):
        sa, sb = a.sample(), b.sample()
        np.testing.assert_array_equal(sa.masks, sb.masks)
        np.testing.assert_array_equal(sa.image, sb.image)
