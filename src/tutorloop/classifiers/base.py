"""Shared base of every tutorloop classifier: the scikit-learn estimator contract on lists of strings.

Subclasses implement ``_fit(texts, y, classes, sample_weight)`` (``y`` are integer codes into ``classes_``;
``sample_weight`` is ``None`` or one float per text) and
``_predict_proba(texts)``; this base does validation, label encoding and :meth:`save`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import DataError, NotTrainedError
from .writer import write_artifact


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 of the (text, label) pairs as canonical JSON: identifies the training data.

    >>> data_hash(["a"], ["x"]) == data_hash(["a"], ["x"])
    True
    """
    blob = json.dumps([[t, lab] for t, lab in zip(texts, labels, strict=True)], ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def check_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """Validate a list of strings: a list/tuple/array of non-empty ``str``. Returns a plain list."""
    if isinstance(texts, str):
        raise DataError(f"{what} must be a list of strings, got a single string; wrap it: [text].")
    try:
        out = list(texts)
    except TypeError:
        raise DataError(f"{what} must be a list of strings, got {type(texts).__name__}.") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DataError(f"{what}[{i}] must be a string, got {type(t).__name__}.")
        if not t.strip():
            raise DataError(f"{what}[{i}] is empty or only whitespace; remove it or give it some text.")
        if not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate (e.g. from a non-UTF-8 argv)
                raise DataError(
                    f"{what}[{i}] holds an invalid character ({exc.reason} at position {exc.start}); "
                    "give valid UTF-8 text."
                ) from None
    return out


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Base class: sklearn estimator on lists of strings, with string labels.

    Fitted state ends in ``_``: ``classes_`` (sorted label names), ``n_train_``, ``label_counts_``,
    ``data_hash_``.
    """

    kind: str = "base"

    # -- the contract --------------------------------------------------------------------------------
    def fit(
        self, texts: Sequence[str], labels: Sequence[str], sample_weight: Sequence[float] | None = None
    ) -> TextClassifier:
        """Train on ``texts`` with string ``labels``; returns ``self``.

        ``sample_weight``: one non-negative weight per text (default: all 1), how much each example counts
        in the classifier's loss (the loop weighs self-labelled texts below LLM-labelled ones).
        """
        texts, labels = self._validate_fit(texts, labels)
        weights = None if sample_weight is None else self._validate_weights(sample_weight, len(texts))
        classes = np.array(self._classes(labels), dtype=object)
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[lab] for lab in labels], dtype=np.int64)
        self._fit(texts, y, classes, weights)
        self.classes_ = classes
        self.n_train_ = len(texts)
        self.label_counts_ = dict(sorted(Counter(labels).items()))
        self.data_hash_ = data_hash(texts, labels)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in ``classes_`` order."""
        self._check_fitted()
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        return np.asarray(self._predict_proba(texts), dtype=np.float64)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted label names (an object array of ``str``)."""
        proba = self.predict_proba(texts)
        return (
            np.asarray(self.classes_, dtype=object)[proba.argmax(axis=1)]
            if len(proba)
            else np.array([], dtype=object)
        )

    def save(
        self,
        path: str | Path,
        *,
        metrics: dict | None = None,
        data_hash: str | None = None,
        extra: dict | None = None,
    ) -> Path:
        """Write a self-contained artifact directory (see :mod:`tutorloop.classifiers.manifest`)."""
        self._check_fitted()
        return write_artifact(self, path, metrics=metrics, data_hash=data_hash, extra=extra)

    # -- for subclasses ------------------------------------------------------------------------------
    def _fit(
        self, texts: list[str], y: np.ndarray, classes: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _predict_proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _save_model(self, directory: Path) -> dict[str, Any]:  # pragma: no cover
        """Write model files into ``directory``; return manifest fields (``files``, settings)."""
        raise NotImplementedError

    def _truncation(self) -> dict[str, Any]:
        return {}

    def _classes(self, labels: list[str]) -> list[str]:
        """The classes, in ``classes_`` order: the sorted labels of the training data (a subclass may add
        labels it can predict without examples)."""
        return sorted(set(labels))

    # -- helpers -------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotTrainedError(
                f"This {type(self).__name__} is not trained yet; call fit(texts, labels) before predicting."
            )

    @staticmethod
    def _validate_weights(sample_weight: Sequence[float], n: int) -> np.ndarray:
        try:
            w = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("sample_weight must be a list of numbers, one per text.") from None
        if w.shape != (n,):
            raise DataError(f"Got {n} texts but {w.size} sample weights; give exactly one weight per text.")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise DataError("sample_weight must be finite and non-negative, with a positive sum.")
        return w

    @staticmethod
    def _validate_fit(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
        texts = check_texts(texts)
        if isinstance(labels, str):
            raise DataError("labels must be a list of strings, one per text.")
        labels = [str(lab) if isinstance(lab, np.str_) else lab for lab in labels]
        if len(texts) != len(labels):
            raise DataError(
                f"Got {len(texts)} texts but {len(labels)} labels; give exactly one label per text."
            )
        if not texts:
            raise DataError("No training texts; give at least two examples of two different labels.")
        for i, lab in enumerate(labels):
            if not isinstance(lab, str) or not lab.strip():
                raise DataError(f"labels[{i}] must be a non-empty string, got {lab!r}.")
        distinct = sorted(set(labels))
        if len(distinct) < 2:
            raise DataError(
                f"Training data has only one class ({distinct[0]!r}); a classifier needs at least two "
                "different labels. Add examples of another label."
            )
        return texts, labels
