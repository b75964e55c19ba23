"""Lightweight text classifiers that all follow the scikit-learn estimator contract on lists of strings.

Kinds: ``tfidf`` (base install), ``embed`` (frozen sentence encoder + logistic regression, extra
``[embed]``), ``setfit`` (contrastive fine-tuning, extra ``[setfit]``) and ``static`` (token vectors
distilled from the encoder + logistic regression, the fastest tier, extra ``[static]``), listed in
:mod:`tutorloop.classifiers.registry`. A trained classifier saves to an artifact directory
(:mod:`tutorloop.classifiers.manifest`) that :func:`load` reads back with no LLM and no torch.

>>> from tutorloop.classifiers import make_classifier
>>> clf = make_classifier("tfidf", C=5.0)
>>> clf.get_params()["C"]
5.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import registry
from .registry import require

if TYPE_CHECKING:
    from .base import TextClassifier
    from .loader import load
    from .predictors import Predictor

KINDS = registry.names()

_LAZY = {"TextClassifier": ".base", "load": ".loader", "Predictor": ".predictors"}


def __getattr__(name: str) -> Any:
    """``load``, ``Predictor`` and ``TextClassifier`` import scikit-learn, so they load on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def classifier_class(kind: str) -> type[TextClassifier]:
    """The class behind ``kind``; raises :class:`ConfigError` for unknown kinds or a missing extra."""
    entry = registry.get(kind)
    if entry.extra:
        require(entry.requires, entry.extra, f"The {kind!r} classifier")
    cls: type[TextClassifier] = registry.resolve(entry.trainer)
    return cls


def params_taken(kind: str, **given: Any) -> dict[str, Any]:
    """Those of ``given`` that are set (not ``None`` or empty) and that classifier ``kind`` takes.

    >>> params_taken("tfidf", C=2.0, encoder="all-mpnet-base-v2", label_anchors=None)
    {'C': 2.0}
    """
    takes = classifier_class(kind)().get_params()
    return {k: v for k, v in given.items() if v and k in takes}


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
