"""Training batches: letterboxed like inference, boxes in input pixels, deterministic per seed."""
import numpy as np
import torch

from engines.detectors.yolo import yolo_spec
from engines.ops.letterbox import letterbox_numpy
from engines.training.data import EVAL_SEED, TRAIN_SEEDS, SyntheticBatches
from pipeline.sources.synthetic import SyntheticScene


def test_without_augmentation_a_sample_is_the_inference_input():
    spec = yolo_spec("tiny")
    data = SyntheticBatches(spec, seed=5, augment=False, scenes=SyntheticScene)
    state = dict(data.get_state())
    sample = data.sample()
    replay = np.random.default_rng(5)
    seed, frame = int(replay.choice(TRAIN_SEEDS)), int(replay.integers(0, 30000))
    scene = SyntheticScene(seed)
    expected, box = letterbox_numpy(scene.render(frame), spec)
    np.testing.assert_array_equal(sample.image, expected)
    truth = scene.ground_truth(frame, masks=False)
    np.testing.assert_allclose(sample.boxes, box.to_input(truth.xyxy), atol=1e-4)
    assert np.array_equal(sample.labels, truth.class_id)
    data.set_state(state)
    np.testing.assert_array_equal(data.sample().image, sample.image)


def test_batches_are_deterministic_and_boxes_stay_inside_the_input():
    spec = yolo_spec("tiny")
    images_a, samples_a = SyntheticBatches(spec, seed=9, scenes=SyntheticScene).batch(4)
    images_b, samples_b = SyntheticBatches(spec, seed=9, scenes=SyntheticScene).batch(4)
    assert torch.equal(images_a, images_b)
    assert tuple(images_a.shape) == (4, 3, 320, 320)
    for a, b in zip(samples_a, samples_b):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert np.all(a.boxes >= -1e-3) and np.all(a.boxes <= 320 + 1e-3)
        assert np.all(a.boxes[:, 2:] > a.boxes[:, :2])


def test_training_and_evaluation_seeds_are_disjoint():
    assert EVAL_SEED not in TRAIN_SEEDS
