"""Lightweight text classifiers that all follow the scikit-learn estimator contract on lists of strings.

Kinds: ``tfidf`` (base install), ``embed`` (frozen sentence encoder + logistic regression, extra
``[embed]``) and ``setfit`` (contrastive fine-tuning, extra ``[setfit]``). A trained classifier saves to an
artifact directory that :func:`load` reads back with no LLM and no torch.

>>> from tutorloop.classifiers import make_classifier
>>> clf = make_classifier("tfidf", C=5.0)
>>> clf.get_params()["C"]
5.0
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ..errors import ConfigError
from .artifact import Predictor, load
from .base import TextClassifier

# kind -> (module, class, extra that provides its dependencies, modules that extra must make importable)
_KINDS: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "tfidf": ("tutorloop.classifiers.tfidf", "TfidfClassifier", None, ()),
    "embed": (
        "tutorloop.classifiers.embed",
        "EmbedClassifier",
        "embed",
        ("torch", "sentence_transformers", "onnxruntime", "tokenizers", "onnx"),
    ),
    "setfit": (
        "tutorloop.classifiers.setfit_adapter",
        "SetFitClassifier",
        "setfit",
        ("torch", "sentence_transformers", "setfit", "onnxruntime", "tokenizers", "onnx"),
    ),
}

KINDS = tuple(_KINDS)


def require(modules: tuple[str, ...], extra: str, what: str) -> None:
    """Raise :class:`ConfigError` naming the pip command if one of ``modules`` cannot be imported."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ConfigError(
                f"{what} needs the '{mod}' package, which is not installed ({exc}). "
                f'Install it with: pip install "tutorloop[{extra}]"'
            ) from exc


def classifier_class(kind: str) -> type[TextClassifier]:
    """The class behind ``kind``; raises :class:`ConfigError` for unknown kinds or a missing extra."""
    if kind not in _KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown classifier kind {kind!r}; choose one of {', '.join(KINDS)}.{hint}")
    module, cls, extra, needs = _KINDS[kind]
    if extra:
        require(needs, extra, f"The {kind!r} classifier")
    return getattr(importlib.import_module(module), cls)


def make_classifier(kind: str, **params: Any) -> TextClassifier:
    """Build an untrained classifier of ``kind`` with keyword ``params``.

    >>> make_classifier("tfdf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Unknown classifier kind 'tfdf'; ... Did you mean 'tfidf'?
    """
    cls = classifier_class(kind)
    try:
        return cls(**params)
    except TypeError as exc:
        valid = sorted(cls().get_params())
        raise ConfigError(
            f"Bad parameter for the {kind!r} classifier ({exc}); valid: {', '.join(valid)}."
        ) from exc


__all__ = ["KINDS", "Predictor", "TextClassifier", "classifier_class", "load", "make_classifier"]
