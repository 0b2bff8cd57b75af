import numpy as np
import pytest

from mmdl_lib.chapters.car_classification.calibration import (apply_temperature, cross_fitted_temperature, ensemble,
                                                              fit_ensemble_weights, fit_temperature)


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _calibrated_sample(n=4000, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, classes))
    probs = _softmax(logits)
    labels = np.array([rng.choice(classes, p=p) for p in probs])  # drawn from the probabilities: calibrated
    return logits, labels


def test_temperature_recovers_the_overconfidence_factor():
    logits, labels = _calibrated_sample()
    overconfident = _softmax(logits * 2.5)  # as if T = 1/2.5 had been applied
    assert fit_temperature(overconfident, labels) == pytest.approx(2.5, rel=0.1)
    report = cross_fitted_temperature(overconfident, labels)
    assert report["log_loss_after"] < report["log_loss_before"] - 0.05


def test_temperature_keeps_the_argmax_and_rows_normalised():
    probs = _softmax(np.random.default_rng(1).normal(size=(20, 4)))
    scaled = apply_temperature(probs, 3.0)
    assert (scaled.argmax(1) == probs.argmax(1)).all()
    assert np.allclose(scaled.sum(1), 1.0)
    assert np.allclose(apply_temperature(probs, 1.0), probs)


def test_ensemble_never_worse_than_its_best_member_on_its_fitting_split():
    logits, labels = _calibrated_sample(800, 4, seed=2)
    rng = np.random.default_rng(3)
    members = [_softmax(logits + rng.normal(0, s, logits.shape)) for s in (0.5, 1.5, 3.0)]
    members.append(np.full_like(members[0], 0.25))  # an uninformative member
    weights = fit_ensemble_weights(members, labels)
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)

    def nll(p):
        return -np.log(p[np.arange(len(labels)), labels]).mean()

    assert nll(ensemble(members, weights)) <= min(nll(m) for m in members) + 1e-9
    assert weights[0] == max(weights)  # the least noisy member carries the most weight


def test_a_perfect_member_takes_all_the_weight():
    labels = np.array([0, 1, 2, 1])
    perfect = np.eye(3)[labels] * 0.98 + 0.01 / 1.5
    uniform = np.full((4, 3), 1 / 3)
    assert fit_ensemble_weights([uniform, perfect], labels)[1] > 0.99
