"""Error analysis for the loop: metrics plus the concrete evidence the diagnosis step needs.

It picks what goes to the LLM (a compact report): the weakest labels, the most frequent confusion
pairs, the misclassified validation texts with probabilities, a few confident successes, and training
examples the classifier finds implausible (candidates for being mislabelled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import evaluate


def align_proba(proba: np.ndarray, classes: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Reorder probability columns from ``classes`` order to ``labels`` order (missing classes get 0).

    >>> align_proba(np.array([[0.2, 0.8]]), ["b", "a"], ["a", "b", "c"]).tolist()
    [[0.8, 0.2, 0.0]]
    """
    proba = np.asarray(proba, dtype=np.float64)
    out = np.zeros((proba.shape[0], len(labels)), dtype=np.float64)
    index = {str(c): i for i, c in enumerate(classes)}
    for j, lab in enumerate(labels):
        if lab in index:
            out[:, j] = proba[:, index[lab]]
    return out


def analyse(
    texts: Sequence[str],
    y_true: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    max_errors: int = 12,
    max_successes: int = 4,
) -> dict[str, Any]:
    """Metrics and evidence for one evaluation. ``proba`` columns must follow ``labels``.

    >>> r = analyse(["good", "bad", "meh"], ["pos", "neg", "pos"],
    ...             np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), ["pos", "neg"])
    >>> r["metrics"]["accuracy"], r["misclassified"][0]["predicted"], r["weak_labels"][0]["label"]
    (0.6666666666666666, 'neg', 'pos')
    """
    labels = list(labels)
    proba = np.asarray(proba, dtype=np.float64)
    pred_idx = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=int)
    y_pred = [labels[i] for i in pred_idx]
    metrics = evaluate(list(y_true), y_pred, labels, proba=proba)
    index = {lab: i for i, lab in enumerate(labels)}
    errors, hits = [], []
    for k, (text, true, pred) in enumerate(zip(texts, y_true, y_pred, strict=True)):
        row = {
            "text": text,
            "label": true,
            "predicted": pred,
            "p_predicted": round(float(proba[k, index[pred]]), 3),
            "p_label": round(float(proba[k, index[true]]), 3) if true in index else 0.0,
        }
        (hits if true == pred else errors).append(row)
    errors.sort(key=lambda r: (-r["p_predicted"], r["text"]))
    hits.sort(key=lambda r: (-r["p_predicted"], r["text"]))
    successes, seen = [], set()
    for row in hits:  # confident successes, at most one per label
        if row["label"] not in seen:
            successes.append(row)
            seen.add(row["label"])
        if len(successes) >= max_successes:
            break
    confidence = {  # mean probability of the true label, per label: separates labels when F1 ties
        lab: round(float(np.mean([proba[k, index[lab]] for k, t in enumerate(y_true) if t == lab])), 3)
        for lab in labels
        if any(t == lab for t in y_true)
    }
    weak = sorted(
        (
            {
                "label": lab,
                **{k: round(float(v), 3) for k, v in metrics["per_class"][lab].items()},
                "confidence": confidence.get(lab, 0.0),
            }
            for lab in labels
            if metrics["per_class"][lab]["support"] > 0
        ),
        key=lambda r: (r["f1"], r["confidence"], r["label"]),
    )
    confusions = [{"label": a, "predicted": b, "count": n} for a, b, n in metrics["top_confusions"]]
    return {
        "metrics": metrics,
        "misclassified": errors[:max_errors],
        "n_misclassified": len(errors),
        "successes": successes,
        "weak_labels": weak,
        "confusions": confusions,
    }


def implausible_training(
    ids: Sequence[int],
    texts: Sequence[str],
    y: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    max_p: float = 0.15,
    limit: int = 8,
) -> list[dict[str, Any]]:
    """Training examples to which the classifier gives less than ``max_p`` for their own label, worst first.

    >>> implausible_training([1, 2], ["a", "b"], ["x", "y"], np.array([[0.9, 0.1], [0.95, 0.05]]), ["x", "y"])
    [{'id': 2, 'text': 'b', 'label': 'y', 'p_label': 0.05, 'predicted': 'x'}]
    """
    index = {lab: i for i, lab in enumerate(labels)}
    rows = []
    for k, (ex_id, text, lab) in enumerate(zip(ids, texts, y, strict=True)):
        p = float(proba[k, index[lab]]) if lab in index else 0.0
        if p < max_p:
            rows.append(
                {
                    "id": int(ex_id),
                    "text": text,
                    "label": lab,
                    "p_label": round(p, 3),
                    "predicted": labels[int(proba[k].argmax())],
                }
            )
    rows.sort(key=lambda r: (r["p_label"], r["id"]))
    return rows[:limit]


def is_better(round_: dict[str, Any], best: dict[str, Any], min_improvement: float) -> bool:
    """Whether a round beats the best so far: higher validation macro-F1, or, once a (small, synthetic)
    validation set is all correct so that macro-F1 cannot show progress any more, an equally perfect round
    with a validation log-loss at least 5% lower: the classifier is clearly more confident on it.

    >>> is_better({"macro_f1": 0.9}, {"macro_f1": 0.8}, 0.001)
    True
    >>> is_better({"macro_f1": 1.0, "log_loss": 0.20}, {"macro_f1": 1.0, "log_loss": 0.30}, 0.001)
    True
    >>> is_better({"macro_f1": 1.0, "log_loss": 0.29}, {"macro_f1": 1.0, "log_loss": 0.30}, 0.001)
    False
    """
    if round_["macro_f1"] > best["macro_f1"] + min_improvement:
        return True
    if best["macro_f1"] < 0.999 or round_["macro_f1"] < 0.999:
        return False
    new, old = round_.get("log_loss"), best.get("log_loss")
    return new is not None and old is not None and new < 0.95 * old
