"""Post-hoc probability fitting on a validation split (chapter 06): temperature scaling and ensembling.

- **Temperature scaling** (Guo et al. 2017): one scalar T divides the log-probabilities before the
  softmax; T is fitted by minimising the validation log loss. Accuracy is unchanged (argmax is).
  :func:`cross_fitted_temperature` reports its effect honestly: T fitted on one half of the
  validation split is scored on the other half, and the other way round.
- **Ensemble**: a convex combination of the approaches' probabilities whose weights minimise the
  validation log loss. The loss of a mixture is convex in its weights and every single approach
  is a corner of the simplex, so the fitted ensemble is never worse than its best member *on the
  split it was fitted on*; the chapter also scores it on held-out images.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar

EPS = 1e-15


def _nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], EPS, 1.0)).mean())


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row by row."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T in ``bounds`` that minimises the log loss of ``apply_temperature(probabilities, T)``."""
    labels = np.asarray(labels)
    result = minimize_scalar(lambda log_t: _nll(apply_temperature(probabilities, float(np.exp(log_t))), labels),
                             bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def cross_fitted_temperature(probabilities: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Log loss before and after temperature scaling, each half scored with T fitted on the other."""
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2:])
    scaled = np.empty_like(np.asarray(probabilities, dtype=np.float64))
    temperatures = []
    for fit_on, score_on in (halves, halves[::-1]):
        t = fit_temperature(probabilities[fit_on], labels[fit_on])
        temperatures.append(t)
        scaled[score_on] = apply_temperature(probabilities[score_on], t)
    return {"log_loss_before": _nll(np.asarray(probabilities, dtype=np.float64), labels),
            "log_loss_after": _nll(scaled, labels), "temperature_half_a": temperatures[0],
            "temperature_half_b": temperatures[1]}


def fit_ensemble_weights(members: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Convex weights (non-negative, summing to one) minimising the log loss of Σ w_m p_m."""
    labels = np.asarray(labels)
    picked = np.stack([np.asarray(m, dtype=np.float64)[np.arange(len(labels)), labels] for m in members], axis=1)

    def loss(w: np.ndarray) -> float:
        return float(-np.log(np.clip(picked @ w, EPS, None)).mean())

    def grad(w: np.ndarray) -> np.ndarray:
        return -(picked / np.clip(picked @ w, EPS, None)[:, None]).mean(axis=0)

    n = len(members)
    best_single = np.eye(n)[int(np.argmin([loss(row) for row in np.eye(n)]))]
    start = 0.5 * best_single + 0.5 / n  # inside the simplex, towards the best member
    result = minimize(loss, start, jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * n,
                      constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},), options={"ftol": 1e-10})
    weights = np.clip(result.x, 0.0, None)
    weights /= weights.sum()
    return weights if loss(weights) <= loss(best_single) else best_single


def ensemble(members: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return sum(w * np.asarray(m, dtype=np.float64) for w, m in zip(weights, members))


def calibrate_and_ensemble(approaches: dict[str, dict[str, np.ndarray]], val_labels: np.ndarray, seed: int = 0):
    """Per approach a temperature fitted on ``"val"`` (its effect cross-fitted), then ensemble weights
    on the calibrated ``"val"`` probabilities; returns (temperatures, calibrated, weights, ensemble)."""
    temperature, calibrated = {}, {}
    for name, probs in approaches.items():
        t = fit_temperature(probs["val"], val_labels)
        temperature[name] = {"temperature": t, **cross_fitted_temperature(probs["val"], val_labels, seed)}
        calibrated[name] = {part: apply_temperature(p, t) for part, p in probs.items()}
    names = list(calibrated)
    weights = fit_ensemble_weights([calibrated[n]["val"] for n in names], val_labels)
    mixed = {part: ensemble([calibrated[n][part] for n in names], weights) for part in approaches[names[0]]}
    return temperature, calibrated, dict(zip(names, weights.tolist())), mixed
