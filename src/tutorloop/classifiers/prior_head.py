"""A linear head with the label prior built in: logits = τ·cos(x, anchor) + V·x + b, V and b penalised.

Each label has an *anchor*: the normalised embedding of its name (and description). With no training data
(V = 0, b = 0) the head is plain similarity to the anchors, the zero-shot baseline. Training data moves
the decision boundaries away from the anchors only as far as it is worth the penalty
``λ·(‖V‖² + ‖b‖²)/2``, so a few noisy examples cannot pull a label far from its meaning, while plenty of
consistent data takes over. The bias is penalised too: left free, it shifts a whole label toward texts
unlike its training examples (measured: `benchmarks/prior_bias.py`, README).
A label with no training example at all is still predicted, through its anchor.

The fitted head is an ordinary multinomial logistic regression (``coef_ = τ·A + V``, ``intercept_ = b``),
so the artifact format and the ONNX predictor are the same as for the plain head.

>>> import numpy as np
>>> anchors = np.eye(3)[:2]                       # two labels, 3-dim toy embeddings
>>> head = PriorHead(anchors, tau=10.0).fit(np.zeros((0, 3)), np.zeros(0, dtype=int))
>>> head.predict_proba(np.array([[1.0, 0.0, 0.0]])).argmax(axis=1).tolist()   # untrained: the prior
[0]
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from ..errors import DataError


class PriorHead:
    """Softmax regression regularised toward the label anchors (see the module docstring).

    Args:
        anchors: ``(n_classes, dim)`` L2-normalised label embeddings, in class-code order.
        tau: scale of the similarity term (a fixed inverse temperature; cosines differ by ~0.1).
        strength: ``λ``, the L2 penalty on the learned part ``V`` (and ``b``) per unit of (weighted,
            averaged) loss. Larger keeps the head closer to plain similarity.
        penalise_bias: apply the same penalty to the bias ``b`` (default). Unpenalised, ``b`` is free to
            shift whole labels: a label whose training texts sit far from its anchor gets a large bias, which
            then moves real texts to it however strong the penalty on ``V``.
        max_iter: L-BFGS iterations.
    """

    def __init__(
        self,
        anchors: np.ndarray,
        *,
        tau: float = 10.0,
        strength: float = 0.01,
        penalise_bias: bool = True,
        max_iter: int = 500,
    ):
        self.anchors = np.asarray(anchors, dtype=np.float64)
        self.tau = float(tau)
        self.strength = float(strength)
        self.penalise_bias = bool(penalise_bias)
        self.max_iter = int(max_iter)

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> PriorHead:
        """Fit on embeddings ``x`` ``(n, dim)`` with integer class codes ``y``; returns ``self``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        n_classes, dim = self.anchors.shape
        if x.ndim != 2 or (len(x) and x.shape[1] != dim):
            raise DataError(f"Embeddings must have shape (n, {dim}); got {x.shape}.")
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if len(w) != len(y) or np.any(w < 0):
            raise DataError("sample_weight must hold one non-negative weight per training example.")
        if len(y) == 0 or w.sum() <= 0:
            self.coef_, self.intercept_ = self.tau * self.anchors, np.zeros(n_classes)
            return self
        onehot = np.zeros((len(y), n_classes))
        onehot[np.arange(len(y)), y] = 1.0
        prior = self.tau * (x @ self.anchors.T)
        w = w / w.sum()
        lam = self.strength
        lam_b = lam if self.penalise_bias else 0.0

        def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            v = theta[: n_classes * dim].reshape(n_classes, dim)
            b = theta[n_classes * dim :]
            z = prior + x @ v.T + b
            lse = logsumexp(z, axis=1)
            loss = float(w @ (lse - (z * onehot).sum(axis=1)))
            loss += 0.5 * lam * float((v * v).sum()) + 0.5 * lam_b * float(b @ b)
            g = (np.exp(z - lse[:, None]) - onehot) * w[:, None]
            grad_v = g.T @ x + lam * v
            return loss, np.concatenate([grad_v.ravel(), g.sum(axis=0) + lam_b * b])

        theta0 = np.zeros(n_classes * dim + n_classes)
        res = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        v = res.x[: n_classes * dim].reshape(n_classes, dim)
        self.coef_ = self.tau * self.anchors + v
        self.intercept_ = res.x[n_classes * dim :]
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` (softmax of the logits)."""
        return softmax(self.decision_function(x), axis=1)
