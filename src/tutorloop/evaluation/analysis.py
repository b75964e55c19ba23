"""Error analysis for the loop: metrics plus the concrete evidence the diagnosis step needs.

It picks what goes to the LLM (a compact report): the weakest labels, the most frequent confusion
pairs, the misclassified validation texts with probabilities, a few confident successes, and training
examples the classifier finds implausible (candidates for being mislabelled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from math import comb
from typing import Any, NotRequired, TypedDict, TypeVar

import numpy as np

from .metrics import ClassScores, Metrics, evaluate


class Prediction(TypedDict):
    """One validation text with its true and predicted label and their probabilities."""

    text: str
    label: str
    predicted: str
    p_predicted: float
    p_label: float


class WeakLabel(TypedDict):
    """A label's validation scores and its mean probability of the true label (``confidence``)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: float
    confidence: float


class Confusion(TypedDict):
    """Validation texts of ``label`` predicted as ``predicted``, ``count`` times."""

    label: str
    predicted: str
    count: int


class Implausible(TypedDict):
    """A training example to which the classifier gives a low probability for its own label."""

    id: int
    text: str
    label: str
    p_label: float
    predicted: str


class Analysis(TypedDict):
    """One evaluation's metrics and evidence (:func:`analyse`); training adds the ``NotRequired`` keys."""

    metrics: Metrics
    misclassified: list[Prediction]
    n_misclassified: int
    successes: list[Prediction]
    weak_labels: list[WeakLabel]
    confusions: list[Confusion]
    implausible: NotRequired[list[Implausible]]
    fit_seconds: NotRequired[float]
    n_train: NotRequired[int]
    n_val: NotRequired[int]
    train_counts: NotRequired[dict[str, int]]
    self_label_weight: NotRequired[float]
    trusted_accuracy: NotRequired[float]
    n_trusted: NotRequired[int]
    trusted_hits: NotRequired[dict[str, int]]


class RoundRecord(TypedDict):
    """One round of a run as stored (``rounds`` table) and written to ``rounds.jsonl`` (without
    ``analysis``). ``actions`` are the decisions' ``to_dict()`` rows; ``top_confusions`` the first five
    :class:`Confusion` rows."""

    round: int
    accuracy: float
    macro_f1: float
    log_loss: float | None
    per_class: dict[str, float]
    n_train: int
    n_val: int
    added: int
    dropped: int
    tokens: int
    tokens_total: int
    seconds: float
    decided_by: str
    diagnosis: str
    actions: list[dict[str, Any]]
    top_confusions: list[Confusion]
    trusted_accuracy: NotRequired[float | None]
    n_trusted: NotRequired[int]
    #: validation example id -> 1 if the round's student got that trusted text right, else 0
    trusted_hits: NotRequired[dict[str, int]]
    analysis: NotRequired[Analysis]


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
) -> Analysis:
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
    errors: list[Prediction] = []
    hits: list[Prediction] = []
    for k, (text, true, pred) in enumerate(zip(texts, y_true, y_pred, strict=True)):
        row: Prediction = {
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
            _weak_label(lab, metrics["per_class"][lab], confidence.get(lab, 0.0))
            for lab in labels
            if metrics["per_class"][lab]["support"] > 0
        ),
        key=lambda r: (r["f1"], r["confidence"], r["label"]),
    )
    confusions: list[Confusion] = [
        {"label": a, "predicted": b, "count": n} for a, b, n in metrics["top_confusions"]
    ]
    return {
        "metrics": metrics,
        "misclassified": errors[:max_errors],
        "n_misclassified": len(errors),
        "successes": successes,
        "weak_labels": weak,
        "confusions": confusions,
    }


def _weak_label(label: str, scores: ClassScores, confidence: float) -> WeakLabel:
    return {
        "label": label,
        "precision": round(float(scores["precision"]), 3),
        "recall": round(float(scores["recall"]), 3),
        "f1": round(float(scores["f1"]), 3),
        "support": round(float(scores["support"]), 3),
        "confidence": confidence,
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
) -> list[Implausible]:
    """Training examples to which the classifier gives less than ``max_p`` for their own label, worst first.

    >>> implausible_training([1, 2], ["a", "b"], ["x", "y"], np.array([[0.9, 0.1], [0.95, 0.05]]), ["x", "y"])
    [{'id': 2, 'text': 'b', 'label': 'y', 'p_label': 0.05, 'predicted': 'x'}]
    """
    index = {lab: i for i, lab in enumerate(labels)}
    rows: list[Implausible] = []
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


R = TypeVar("R", bound=Mapping[str, Any])


SIGN_TEST_ALPHA = 0.05
"""How sure a later round must be to replace the kept one on the trusted texts: one-sided sign test."""


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided sign test: the chance of at least ``wins`` of ``wins + losses`` discordant texts going
    one way if both rounds were equally good.

    >>> round(sign_test_p(3, 0), 3), round(sign_test_p(5, 0), 3), sign_test_p(0, 0)
    (0.125, 0.031, 1.0)
    """
    n = wins + losses
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0


def is_better(candidate: Mapping[str, Any], best: Mapping[str, Any], min_improvement: float) -> bool:
    """Whether a round beats the best so far.

    When both rounds were scored text by text on the same *trusted* validation texts (``trusted_hits``:
    pool texts whose teacher label agrees with the label prior, see ``loop.pool.trusted_mask``), the
    candidate must get more of them right than the best round does, by a margin a one-sided sign test on
    the texts where they differ finds unlikely by chance (p ≤ :data:`SIGN_TEST_ALPHA`): a few dozen trusted
    texts cannot tell a round that gains one of them from noise, and rounds that lean on the prior gain
    them by construction. With only ``trusted_accuracy`` (records from before ``trusted_hits``), a higher
    accuracy there decides. Equal or unproven scores keep the earlier round. Otherwise: higher validation
    macro-F1, or, once a (small, synthetic) validation set is all correct so that macro-F1 cannot show
    progress any more, an equally perfect round with a validation log-loss at least 5% lower.

    >>> is_better({"macro_f1": 0.9}, {"macro_f1": 0.8}, 0.001)
    True
    >>> is_better({"macro_f1": 1.0, "log_loss": 0.20}, {"macro_f1": 1.0, "log_loss": 0.30}, 0.001)
    True
    >>> is_better({"macro_f1": 1.0, "log_loss": 0.29}, {"macro_f1": 1.0, "log_loss": 0.30}, 0.001)
    False
    >>> is_better({"macro_f1": 0.9, "trusted_accuracy": 0.8}, {"macro_f1": 0.6, "trusted_accuracy": 0.8},
    ...           0.001)
    False
    >>> old = {"macro_f1": 0.5, "trusted_hits": {str(i): int(i >= 5) for i in range(40)}}
    >>> is_better({"macro_f1": 0.5, "trusted_hits": {str(i): int(i >= 2) for i in range(40)}}, old, 0.001)
    False
    >>> is_better({"macro_f1": 0.5, "trusted_hits": {str(i): 1 for i in range(40)}}, old, 0.001)
    True
    """
    new_hits, old_hits = candidate.get("trusted_hits"), best.get("trusted_hits")
    if new_hits is not None and old_hits is not None:
        common = new_hits.keys() & old_hits.keys()
        wins = sum(1 for k in common if new_hits[k] and not old_hits[k])
        losses = sum(1 for k in common if old_hits[k] and not new_hits[k])
        return wins > losses and sign_test_p(wins, losses) <= SIGN_TEST_ALPHA
    new_trusted, old_trusted = candidate.get("trusted_accuracy"), best.get("trusted_accuracy")
    if new_trusted is not None and old_trusted is not None:
        return bool(new_trusted > old_trusted + min_improvement)
    if candidate["macro_f1"] > best["macro_f1"] + min_improvement:
        return True
    if best["macro_f1"] < 0.999 or candidate["macro_f1"] < 0.999:
        return False
    new, old = candidate.get("log_loss"), best.get("log_loss")
    return new is not None and old is not None and bool(new < 0.95 * old)


def best_round(rounds: Iterable[R], min_improvement: float) -> R | None:
    """The best of ``rounds`` (in round order) by :func:`is_better`; the earliest wins ties; ``None`` if
    there are none.

    The loop keeps this round's model, and the reports mark it, so all of them use this one function.

    >>> best_round([{"round": 0, "macro_f1": 0.8}, {"round": 1, "macro_f1": 0.9},
    ...             {"round": 2, "macro_f1": 0.9005}], 0.001)["round"]
    1
    """
    best: R | None = None
    for r in rounds:
        if best is None or is_better(r, best, min_improvement):
            best = r
    return best
