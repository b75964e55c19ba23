"""Frozen sentence encoder + logistic-regression head (extra ``[embed]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from .base import TextClassifier
from .encoder import DEFAULT_ENCODER, get_encoder, save_encoder_model, token_truncation


class EmbedClassifier(TextClassifier):
    """Sentence embeddings from a frozen encoder, classified by logistic regression.

    Args:
        encoder: sentence-transformers name or path; default: all-MiniLM-L6-v2 packaged offline.
        max_seq_length: tokens kept per text; longer texts are truncated (recorded in the artifact).
        C: inverse regularisation strength of the head.
        class_weight: ``"balanced"`` (default) or ``None``.
        quantize: save the ONNX encoder int8-quantised (smaller, ~4x faster); ``False`` keeps fp32.

    >>> clf = EmbedClassifier().fit(["good film", "great movie", "awful plot", "bad acting"],
    ...                             ["pos", "pos", "neg", "neg"])   # doctest: +SKIP
    >>> clf.predict(["a wonderful film"]).tolist()                  # doctest: +SKIP
    ['pos']
    """

    kind = "embed"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        max_seq_length: int = 256,
        C: float = 10.0,
        class_weight: str | None = "balanced",
        quantize: bool = True,
    ) -> None:
        self.encoder = encoder
        self.max_seq_length = max_seq_length
        self.C = C
        self.class_weight = class_weight
        self.quantize = quantize

    def _embed(self, texts: list[str]) -> np.ndarray:
        return get_encoder(self.encoder).encode(texts, max_seq_length=self.max_seq_length)

    def _fit(
        self, texts: list[str], y: np.ndarray, classes: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        head = LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight)
        self.head_ = head.fit(self._embed(texts), y, sample_weight=sample_weight)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.predict_proba(self._embed(texts))

    def _truncation(self) -> dict[str, Any]:
        return token_truncation(self.max_seq_length)

    def _save_model(self, directory: Path) -> dict[str, Any]:
        info = save_encoder_model(
            get_encoder(self.encoder).model, directory, self.head_, quantize=self.quantize
        )
        return info | {"encoder": self.encoder or DEFAULT_ENCODER}
