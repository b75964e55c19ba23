"""Pure metric functions over label names. No I/O, no model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import numpy as np


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts, rows = true label, columns = predicted label, both in ``labels`` order.

    >>> confusion_matrix(["a", "b", "b"], ["a", "a", "b"], ["a", "b"])
    [[1, 0], [1, 1]]
    """
    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m.tolist()


class ClassScores(TypedDict):
    """Scores of one label."""

    precision: float
    recall: float
    f1: float
    support: int


class Metrics(TypedDict):
    """What :func:`evaluate` returns (``top_confusions`` rows are ``(true, predicted, count)``)."""

    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScores]
    labels: list[str]
    confusion: list[list[int]]
    top_confusions: list[tuple[str, str, int]]
    log_loss: NotRequired[float | None]


def evaluate(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    proba: np.ndarray | None = None,
) -> Metrics:
    """Accuracy, macro-F1, per-class scores, confusion matrix and the most frequent confusions.

    ``labels`` fixes the order of ``per_class`` and ``confusion``; macro-F1 averages over the labels that
    occur in ``y_true`` or ``y_pred``. ``proba`` (optional, columns in
    ``labels`` order) adds ``log_loss``.

    >>> r = evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    >>> r["accuracy"], round(r["macro_f1"], 3), r["top_confusions"]
    (0.75, 0.733, [('a', 'b', 1)])
    """
    y_true, y_pred, labels = [str(x) for x in y_true], [str(x) for x in y_pred], [str(x) for x in labels]
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}.")
    n = len(y_true)
    cm = np.array(confusion_matrix(y_true, y_pred, labels), dtype=np.int64).reshape(len(labels), len(labels))
    per_class: dict[str, ClassScores] = {}
    for i, lab in enumerate(labels):
        tp = int(cm[i, i])
        pred_pos = sum(1 for p in y_pred if p == lab)
        support = sum(1 for t in y_true if t == lab)
        precision = tp / pred_pos if pred_pos else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    present = [lab for lab in labels if per_class[lab]["support"] > 0 or any(p == lab for p in y_pred)]
    macro_f1 = float(np.mean([per_class[lab]["f1"] for lab in present])) if present else 0.0
    pairs = [
        (labels[i], labels[j], int(cm[i, j]))
        for i in range(len(labels))
        for j in range(len(labels))
        if i != j and cm[i, j] > 0
    ]
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    result: Metrics = {
        "n": n,
        "accuracy": sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / n if n else 0.0,
        "macro_f1": macro_f1,
        "per_class": per_class,
        "labels": labels,
        "confusion": cm.tolist(),
        "top_confusions": pairs[:10],
    }
    if proba is not None and n:
        p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
        idx = {lab: i for i, lab in enumerate(labels)}
        rows = [(r, idx[t]) for r, t in enumerate(y_true) if t in idx]
        result["log_loss"] = float(-np.mean([np.log(p[r, c]) for r, c in rows])) if rows else None
    return result
