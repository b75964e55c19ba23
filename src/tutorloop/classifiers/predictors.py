"""Loaded models: :class:`Predictor` (the interface :func:`~tutorloop.classifiers.load` returns) and
:class:`SkopsPredictor` (tfidf). The ONNX predictor of embed/setfit lives in
:mod:`tutorloop.classifiers.onnx_runtime`. None of these needs the LLM or torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError
from .base import check_texts

SKOPS_FILE = "model.skops"

# Exactly the non-default types a TfidfClassifier pipeline contains; nothing else is trusted on load.
SKOPS_TRUSTED = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.slice",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "numpy.float64",
    "numpy.int64",
    "numpy.int32",
    "numpy.ndarray",
    "numpy.dtype",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
]


class Predictor:
    """A loaded model: ``predict``, ``predict_proba``, ``classes_`` and ``manifest``. Needs no LLM or torch.

    Build one with :func:`~tutorloop.classifiers.load`. Subclasses (one per artifact layout, named by the
    registry's ``predictor``) take ``(manifest, path, *, threads, batch_size)`` and implement ``_proba``.
    """

    def __init__(
        self, manifest: dict[str, Any], path: Path, *, threads: int | None = None, batch_size: int = 64
    ) -> None:
        self.manifest = manifest
        self.path = path
        self.classes_ = np.array(manifest["labels"], dtype=object)

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in ``classes_`` order."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return np.asarray(self._proba(texts), dtype=np.float64)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted label names."""
        proba = self.predict_proba(texts)
        return self.classes_[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)

    def _proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<tutorloop {self.kind} model {self.path} labels={list(self.classes_)}>"


def load_skops(path: Path) -> Any:
    """Load a skops file, trusting only :data:`SKOPS_TRUSTED`; anything else is refused."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ArtifactError(
            f"{path} is not a readable skops file ({exc}); re-train and save the model."
        ) from exc
    unknown = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if unknown:
        raise ArtifactError(
            f"{path} contains types tutorloop does not trust: {', '.join(unknown)}. "
            "Only artifacts saved by tutorloop's tfidf classifier can be loaded."
        )
    try:
        return sio.load(path, trusted=sorted(set(untrusted)))
    except Exception as exc:
        raise ArtifactError(
            f"Could not load {path}: {exc}. The file may be corrupt; re-train the model."
        ) from exc


class SkopsPredictor(Predictor):
    """A tfidf model loaded from ``model.skops``."""

    def __init__(
        self, manifest: dict[str, Any], path: Path, *, threads: int | None = None, batch_size: int = 64
    ) -> None:
        super().__init__(manifest, path)
        self._pipeline = load_skops(path / SKOPS_FILE)
        self._max_chars = int(manifest.get("truncation", {}).get("max_chars") or 0)
        n = len(getattr(self._pipeline, "classes_", []))
        if n != len(self.classes_):
            raise ArtifactError(
                f"{path}: the model has {n} classes but the manifest lists {len(self.classes_)}."
            )

    def _proba(self, texts: list[str]) -> np.ndarray:
        if self._max_chars:
            texts = [t[: self._max_chars] for t in texts]
        return self._pipeline.predict_proba(texts)
