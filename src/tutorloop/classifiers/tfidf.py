"""TF-IDF (word 1-2 grams + character 2-5 grams) + logistic regression.

Base install; trains in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from ..errors import DataError
from .base import TextClassifier
from .predictors import SKOPS_FILE


class TfidfClassifier(TextClassifier):
    """Word and character n-gram TF-IDF features with a logistic-regression head.

    Args:
        C: inverse regularisation strength of the logistic regression.
        max_chars: texts are cut to their first ``max_chars`` characters (keeps 1 MB inputs cheap).
        max_features: cap on each vocabulary (``None`` for no cap).
        class_weight: passed to ``LogisticRegression`` (``"balanced"`` or ``None``).

    >>> clf = TfidfClassifier().fit(["good film", "great movie", "awful plot", "bad acting"],
    ...                             ["pos", "pos", "neg", "neg"])
    >>> clf.predict(["a great film"]).tolist()
    ['pos']
    """

    kind = "tfidf"

    def __init__(
        self,
        *,
        C: float = 10.0,
        max_chars: int = 5000,
        max_features: int | None = 200_000,
        class_weight: str | None = "balanced",
    ) -> None:
        self.C = C
        self.max_chars = max_chars
        self.max_features = max_features
        self.class_weight = class_weight

    def _build(self) -> Pipeline:
        features = FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=self.max_features
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        sublinear_tf=True,
                        min_df=1,
                        max_features=self.max_features,
                    ),
                ),
            ]
        )
        head = LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight)
        return Pipeline([("features", features), ("head", head)])

    def _cut(self, texts: list[str]) -> list[str]:
        return [t[: self.max_chars] for t in texts] if self.max_chars else texts

    def _fit(
        self, texts: list[str], y: np.ndarray, classes: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        try:
            self.pipeline_ = self._build().fit(self._cut(texts), y, head__sample_weight=sample_weight)
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            raise DataError(
                f"The tfidf classifier found no word of two or more letters in the {len(texts)} training "
                f"texts (e.g. {texts[0][:40]!r}). Give longer texts, or train another classifier "
                "(--classifier static)."
            ) from None

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.pipeline_.predict_proba(self._cut(texts))

    def _truncation(self) -> dict[str, Any]:
        return {"unit": "characters", "max_chars": self.max_chars}

    def _save_model(self, directory: Path) -> dict[str, Any]:
        import skops.io as sio

        sio.dump(self.pipeline_, directory / SKOPS_FILE)  # skops, not pickle: loads with an allow-list
        return {"files": [SKOPS_FILE]}
