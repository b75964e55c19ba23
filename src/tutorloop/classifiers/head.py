"""The logistic-regression head of the embedding kinds (embed, setfit, static) as plain JSON, and its
probabilities in numpy: what an artifact stores in ``head.json`` and how a predictor applies it.

Nothing is pickled: ``head.json`` holds ``coef`` (one row per class, or one row for two classes, as
scikit-learn keeps them) and ``intercept``.

>>> import numpy as np
>>> head_proba(np.array([[0.0], [2.0]]), np.array([[1.0]]), np.array([-1.0])).round(3).tolist()
[[0.731, 0.269], [0.269, 0.731]]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError

HEAD_FILE = "head.json"


def write_head(directory: Path, head: Any) -> str:
    """Write a fitted scikit-learn ``LogisticRegression``'s weights to ``directory/head.json``; returns
    the file name."""
    doc = {"type": "logistic_regression", "coef": head.coef_.tolist(), "intercept": head.intercept_.tolist()}
    (directory / HEAD_FILE).write_text(json.dumps(doc), encoding="utf-8")
    return HEAD_FILE


def read_head(path: Path, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` from ``path/head.json``, checked against the manifest's ``n_labels``.

    Raises:
        ArtifactError: the file is missing or corrupt, or its classes do not match the manifest's.
    """
    try:
        head = json.loads((path / HEAD_FILE).read_text(encoding="utf-8"))
        coef = np.array(head["coef"], dtype=np.float64)
        intercept = np.array(head["intercept"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path / HEAD_FILE} is missing or corrupt ({exc}); re-save the model.") from exc
    if coef.ndim != 2 or intercept.shape != (coef.shape[0],):
        raise ArtifactError(f"{path / HEAD_FILE} has malformed weights; re-save the model.")
    n_rows = 2 if coef.shape[0] == 1 else coef.shape[0]
    if n_rows != n_labels:
        raise ArtifactError(f"{path}: the head has {n_rows} classes but the manifest lists {n_labels}.")
    return coef, intercept


def head_proba(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Logistic-regression probabilities as scikit-learn computes them (binary: sigmoid; else softmax)."""
    z = x.astype(np.float64) @ coef.T + intercept
    if coef.shape[0] == 1:
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
