"""Many L2-regularised logistic regressions on the same inputs, fitted at once.

A permutation null refits the site probe on the same training matrix once per
permuted label vector; sklearn fits them one at a time, and with a few dozen features
its per-fit overhead, not the arithmetic, is the cost (1.6 s of the shortcut
analysis of 96 images). :func:`fit_predict_many` fits every label vector's model
together by Newton's method with step halving, on the objective sklearn's
``LogisticRegression(C=c)`` minimises:

    C * sum_i -log p(y_i | x_i)  +  1/2 * |W|^2        (intercepts not penalised)

with sklearn's parametrisation: a multinomial model with one coefficient row per
class present in the labels when three or more are, and the binomial model (one row)
when two are; a single class predicts itself. The optimum is unique, so the
predictions are sklearn's (``tests/test_batched_logistic.py`` checks them against
``LogisticRegression`` itself, for ``C`` from 0.1 to 10; the stopping rule scales with
``C``, so at very large ``C`` on separable data, 1e8 say, it stops short of sklearn).
Memory grows with the number of models times ``(classes * (d + 1))^2``: fit a few
dozen at a time.
"""

from __future__ import annotations

import numpy as np

#: Gradient size (max-abs, relative to C * n) at which Newton's method stops.
TOLERANCE = 1e-8
MAX_ITERATIONS = 100
#: Step halvings tried per Newton step before taking the smallest.
HALVINGS = 30


def fit_predict_many(
    x_train: np.ndarray,
    labels: np.ndarray,
    x_test: np.ndarray,
    classes: int,
    *,
    c: float = 1.0,
) -> np.ndarray:
    """Fit one model per row of ``labels`` on ``x_train``; predict ``x_test`` with each.

    Args:
        x_train: ``(n, d)`` training inputs, shared by every model.
        labels: ``(m, n)`` integer labels in ``0..classes-1``, one row per model.
        x_test: ``(t, d)`` inputs to predict.
        classes: Number of label values.
        c: Inverse regularisation strength (sklearn's ``C``).

    Returns:
        ``(m, t)`` predicted labels.
    """
    labels = np.atleast_2d(np.asarray(labels, dtype=np.int64))
    m, n = labels.shape
    ones = np.ones((n, 1))
    xa = np.hstack([np.asarray(x_train, float), ones])  # intercept as the last input
    ta = np.hstack([np.asarray(x_test, float), np.ones((len(x_test), 1))])
    present = np.zeros((m, classes), bool)
    np.put_along_axis(present, labels, True, axis=1)
    free = present.copy()  # classes whose coefficients are fitted
    binary = present.sum(axis=1) == 2
    reference = np.argmax(present, axis=1)  # the binomial model: first class held at zero
    free[np.flatnonzero(binary), reference[binary]] = False
    theta = _newton(xa, np.eye(classes)[labels].transpose(0, 2, 1), present, free, c)
    logits = np.einsum("mkd,td->mkt", theta, ta)
    logits[~np.broadcast_to(present[:, :, None], logits.shape)] = -np.inf
    return np.argmax(logits, axis=1)


def _objective(
    theta: np.ndarray, xa: np.ndarray, y: np.ndarray, present: np.ndarray, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each model's objective ``(m,)`` and its log-probabilities ``(m, k, n)``."""
    logits = np.einsum("mkd,nd->mkn", theta, xa)
    logits = np.where(present[:, :, None], logits, -np.inf)
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    chosen = np.where(y > 0, logits, 0.0).sum(axis=1)
    loss = c * (log_norm - chosen).sum(axis=1)
    return loss + 0.5 * (theta[:, :, :-1] ** 2).sum(axis=(1, 2)), logits - log_norm[:, None]


def _newton(
    xa: np.ndarray, y: np.ndarray, present: np.ndarray, free: np.ndarray, c: float
) -> np.ndarray:
    """Coefficients ``(m, classes, d + 1)``; classes not free stay at zero."""
    m, k, n = y.shape
    d1 = xa.shape[1]
    size = k * d1
    theta = np.zeros((m, k, d1))
    pinned = np.repeat(~free, d1, axis=1)  # (m, size): rows and columns held at zero
    penalty = np.tile(np.r_[np.ones(d1 - 1), 0.0], k)
    value, log_p = _objective(theta, xa, y, present, c)
    for _ in range(MAX_ITERATIONS):
        p = np.exp(log_p)  # (m, k, n), zero for absent classes
        gradient = c * np.einsum("mkn,nd->mkd", p - y, xa)
        gradient[:, :, :-1] += theta[:, :, :-1]
        gradient = np.where(pinned.reshape(m, k, d1), 0.0, gradient).reshape(m, size)
        if np.abs(gradient).max() <= TOLERANCE * c * n:
            break
        # Hessian blocks: c * sum_i p_ki (delta_kl - p_li) x_i x_i^T, plus the penalty.
        hessian = c * _blocks(p, xa).reshape(m, size, size)
        hessian += np.diag(penalty)
        hessian[pinned] = 0.0
        hessian.transpose(0, 2, 1)[pinned] = 0.0
        hessian[:, np.arange(size), np.arange(size)] += np.where(pinned, 1.0, 0.0)
        # The multinomial intercepts can all shift together: a tiny ridge fixes that one
        # direction without moving the predictions.
        hessian[:, np.arange(size), np.arange(size)] += 1e-9 * c * n * (penalty == 0)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0].reshape(m, k, d1)
        theta, value, log_p = _halving(theta, step, value, log_p, xa, y, present, c)
    return theta


def _blocks(p: np.ndarray, xa: np.ndarray) -> np.ndarray:
    """``sum_i p_ki (delta_kl - p_li) x_i x_i^T`` as ``(m, k, d, k, d)``, block by block
    through batched matrix products (the blocks are symmetric, and so is the whole)."""
    m, k, _ = p.shape
    d1 = xa.shape[1]
    out = np.empty((m, k, d1, k, d1))
    for a in range(k):
        for b in range(a, k):
            weight = (p[:, a] if a == b else 0.0) - p[:, a] * p[:, b]  # (m, n)
            block = np.matmul(xa.T[None] * weight[:, None, :], xa)
            out[:, a, :, b, :] = block
            out[:, b, :, a, :] = block
    return out


def _halving(
    theta: np.ndarray,
    step: np.ndarray,
    value: np.ndarray,
    log_p: np.ndarray,
    xa: np.ndarray,
    y: np.ndarray,
    present: np.ndarray,
    c: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each model's Newton step, halved until its objective no longer rises."""
    scale = np.ones(len(theta))
    pending = np.ones(len(theta), bool)
    new_theta, new_value, new_log_p = theta.copy(), value.copy(), log_p.copy()
    for _ in range(HALVINGS):
        trial = theta - scale[:, None, None] * step
        trial_value, trial_log_p = _objective(trial, xa, y, present, c)
        accept = pending & (trial_value <= value + 1e-12 * np.abs(value))  # rounding
        new_theta[accept], new_value[accept] = trial[accept], trial_value[accept]
        new_log_p[accept] = trial_log_p[accept]
        pending &= ~accept
        if not pending.any():
            break
        scale[pending] /= 2
    return new_theta, new_value, new_log_p
