"""Many logistic regressions fitted at once predict exactly as sklearn's, one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from assurexray.shortcuts.batched_logistic import fit_predict_many


def _sklearn(x_train, labels, x_test, c=1.0, tol=1e-4):
    out = []
    for row in labels:
        if len(np.unique(row)) == 1:
            out.append(np.full(len(x_test), row[0]))  # sklearn refuses a single class
            continue
        model = LogisticRegression(C=c, solver="newton-cholesky", max_iter=2000, tol=tol)
        out.append(model.fit(x_train, row).predict(x_test))
    return np.stack(out)


@pytest.mark.parametrize(
    ("n", "d", "classes", "shift", "c"),
    [(77, 9, 3, 0.5, 1.0), (77, 9, 3, 0.0, 1.0), (60, 5, 2, 1.0, 1.0),
     (40, 30, 3, 2.0, 1.0), (50, 4, 4, 0.3, 0.1), (120, 12, 3, 3.0, 10.0)],
)  # fmt: skip
def test_predictions_equal_sklearn(n, d, classes, shift, c):
    rng = np.random.default_rng(n + d)
    y = rng.integers(0, classes, n + 25)
    x = rng.normal(size=(n + 25, d))
    x[:, :classes] += shift * np.eye(classes)[y][:, :d]
    labels = np.stack([y[:n], *(rng.permutation(y[:n]) for _ in range(40))])
    labels[1, labels[1] == 0] = 1  # one model never sees class 0
    labels[2] = labels[2, 0]  # one sees a single class
    ours = fit_predict_many(x[:n], labels, x[n:], classes, c=c)
    assert ours.shape == (41, 25)
    np.testing.assert_array_equal(ours, _sklearn(x[:n], labels, x[n:], c, tol=1e-12))
    np.testing.assert_array_equal(ours, _sklearn(x[:n], labels, x[n:], c))  # default tolerance
    assert not np.isin(0, ours[1]) and np.all(ours[2] == labels[2, 0])
    if shift >= 1.0:  # a real signal: the true labels are predicted well above chance
        assert np.mean(ours[0] == y[n:]) > 1 / classes + 0.15
