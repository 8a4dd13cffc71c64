"""The Kalman filter's sliced algebra equals the textbook matrix form (F P F^T + Q; P - K H P)."""
import numpy as np

from pipeline.tracking import kalman


def random_states(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    boxes = np.hstack([rng.uniform(0, 600, (n, 2)), rng.uniform(10, 90, (n, 2))])
    mean, cov = kalman.initiate(boxes)
    mean[:, 4:] = rng.normal(0, 3, (n, 4))
    a = rng.normal(0, 1, (n, 8, 8))
    cov = cov + a @ a.transpose(0, 2, 1)           # a full symmetric positive definite covariance
    return mean, cov


def matrix_predict(mean, cov, gap):
    out_mean, out_cov = [], []
    for m, p, g in zip(mean, cov, gap):
        motion = np.eye(8)
        motion[:4, 4:] = g * np.eye(4)
        scale = max(m[3], 1.0)
        std = np.r_[[kalman.POSITION_NOISE * scale] * 4, [kalman.VELOCITY_NOISE * scale] * 4]
        out_mean.append(motion @ m)
        out_cov.append(motion @ p @ motion.T + np.diag(std ** 2 * g))
    return np.array(out_mean), np.array(out_cov)


def test_predict_matches_the_matrix_form_over_real_gaps():
    mean, cov = random_states(12)
    gap = np.array([1, 2, 3, 1, 5, 1, 2, 8, 1, 1, 4, 2])
    got_mean, got_cov = kalman.predict(mean, cov, gap)
    want_mean, want_cov = matrix_predict(mean, cov, gap)
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got_cov, want_cov, rtol=1e-12, atol=1e-9)


def test_predict_and_update_leave_their_inputs_alone():
    mean, cov = random_states(5, seed=1)
    before = mean.copy(), cov.copy()
    kalman.predict(mean, cov, np.full(5, 2))
    kalman.update(mean, cov, mean[:, :4] + 1.0)
    np.testing.assert_array_equal(mean, before[0])
    np.testing.assert_array_equal(cov, before[1])


def test_update_matches_the_matrix_form():
    mean, cov = random_states(7, seed=2)
    boxes = mean[:, :4] + np.random.default_rng(3).normal(0, 2, (7, 4))
    got_mean, got_cov = kalman.update(mean, cov, boxes)
    measure = np.hstack([np.eye(4), np.zeros((4, 4))])
    for i in range(7):
        scale = max(mean[i, 3], 1.0)
        noise = np.eye(4) * (kalman.POSITION_NOISE * scale) ** 2
        gain = cov[i] @ measure.T @ np.linalg.inv(measure @ cov[i] @ measure.T + noise)
        np.testing.assert_allclose(got_mean[i], mean[i] + gain @ (boxes[i] - measure @ mean[i]), atol=1e-9)
        np.testing.assert_allclose(got_cov[i], cov[i] - gain @ measure @ cov[i], atol=1e-9)


def test_nothing_to_predict_or_update():
    mean, cov = np.zeros((0, 8)), np.zeros((0, 8, 8))
    assert kalman.predict(mean, cov, np.zeros(0))[0].shape == (0, 8)
    assert kalman.update(mean, cov, np.zeros((0, 4)))[1].shape == (0, 8, 8)
