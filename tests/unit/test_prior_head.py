"""The label-prior head: what its penalty holds to the anchors."""

from __future__ import annotations

import numpy as np

from tutorloop.classifiers.prior_head import PriorHead

ANCHORS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# label 1's training texts sit nearer label 0's anchor than its own, as off-target synthetic texts do
X = np.array([[1.0, 0.0, 0.0]] * 3 + [[0.6, 0.0, 0.8]] * 3)
Y = np.array([0, 0, 0, 1, 1, 1])
NEAR_LABEL_0 = np.array([[0.9, np.sqrt(1 - 0.81), 0.0]])  # similarity: label 0, 0.99


def test_a_strong_penalty_with_the_bias_penalised_is_plain_similarity() -> None:
    prior = PriorHead(ANCHORS).fit(X[:0], Y[:0]).predict_proba(NEAR_LABEL_0)
    held = PriorHead(ANCHORS, strength=1e3).fit(X, Y)
    assert np.abs(held.intercept_).max() < 1e-3
    np.testing.assert_allclose(held.predict_proba(NEAR_LABEL_0), prior, atol=1e-3)
    assert prior.argmax() == 0


def test_a_free_bias_moves_texts_to_a_label_whatever_the_penalty() -> None:
    free = PriorHead(ANCHORS, strength=1e3, penalise_bias=False).fit(X, Y)  # V held at 0, b is not
    assert free.intercept_[1] - free.intercept_[0] > 5
    assert free.predict_proba(NEAR_LABEL_0).argmax() == 1  # similarity says 0
    penalised = PriorHead(ANCHORS, strength=0.01).fit(X, Y)
    unpenalised = PriorHead(ANCHORS, strength=0.01, penalise_bias=False).fit(X, Y)
    assert np.ptp(penalised.intercept_) < np.ptp(unpenalised.intercept_)
    fitted = [h.predict_proba(X).argmax(axis=1).tolist() for h in (penalised, unpenalised)]
    assert fitted == [Y.tolist(), Y.tolist()]  # both fit the training texts
