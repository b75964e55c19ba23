"""The one list of classifier kinds: what trains each, what it needs installed, and what loads its artifact.

Everything that names kinds reads this module: the factory (:func:`tutorloop.classifiers.make_classifier`),
artifact validation and :func:`tutorloop.classifiers.load`, the CLI's ``--classifier`` choices and the
benchmark's few-shot methods. Adding a kind is one trainer module plus one :class:`ClassifierKind` in
:data:`REGISTRY`. This module imports nothing heavy, so reading it is free.

>>> names()
('tfidf', 'embed', 'setfit', 'static')
>>> uses_encoder("embed"), uses_encoder("tfidf")
(True, False)
>>> get("tfdf")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tutorloop.errors.ConfigError: Unknown classifier kind 'tfdf'; ... Did you mean 'tfidf'?
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class ClassifierKind:
    """One classifier kind.

    Attributes:
        name: the kind, as users type it (``--classifier NAME``) and as manifests record it.
        summary: one line for CLI help and docs.
        trainer: ``"module:Class"`` of the :class:`~tutorloop.classifiers.base.TextClassifier` subclass.
        predictor: ``"module:Class"`` that :func:`~tutorloop.classifiers.load` builds for an artifact of
            this kind, called as ``Class(manifest, path, threads=..., batch_size=...)``; a
            :class:`~tutorloop.classifiers.predictors.Predictor` subclass.
        extra: the pip extra that provides the trainer's dependencies (``None``: base install).
        requires: modules that extra must make importable; checked before training, with a pip hint.
        uses_encoder: the kind embeds texts with the shared sentence encoder (the loop then dedups by
            embedding, since the encoder is loaded anyway).
    """

    name: str
    summary: str
    trainer: str
    predictor: str
    extra: str | None = None
    requires: tuple[str, ...] = ()
    uses_encoder: bool = False


_ONNX = "tutorloop.classifiers.onnx_runtime:OnnxPredictor"

REGISTRY: dict[str, ClassifierKind] = {
    k.name: k
    for k in (
        ClassifierKind(
            name="tfidf",
            summary="word and character n-gram TF-IDF + logistic regression; base install, trains in ms",
            trainer="tutorloop.classifiers.tfidf:TfidfClassifier",
            predictor="tutorloop.classifiers.predictors:SkopsPredictor",
        ),
        ClassifierKind(
            name="embed",
            summary="frozen sentence encoder + logistic regression; extra [embed]",
            trainer="tutorloop.classifiers.embed:EmbedClassifier",
            predictor=_ONNX,
            extra="embed",
            requires=("torch", "sentence_transformers", "onnxruntime", "tokenizers", "onnx"),
            uses_encoder=True,
        ),
        ClassifierKind(
            name="setfit",
            summary="contrastive fine-tuning of the encoder (SetFit) + logistic regression; extra [setfit]",
            trainer="tutorloop.classifiers.setfit_adapter:SetFitClassifier",
            predictor=_ONNX,
            extra="setfit",
            requires=("torch", "sentence_transformers", "setfit", "onnxruntime", "tokenizers", "onnx"),
            uses_encoder=True,
        ),
        ClassifierKind(
            name="static",
            summary="static token embeddings distilled from the encoder (model2vec) + logistic regression; "
            "the fastest tier; extra [static]",
            trainer="tutorloop.classifiers.static:StaticClassifier",
            predictor="tutorloop.classifiers.static_runtime:StaticPredictor",
            extra="static",
            requires=("torch", "transformers", "model2vec", "skeletoken", "tokenizers"),
        ),
    )
}


def names() -> tuple[str, ...]:
    """Every kind, in registry order."""
    return tuple(REGISTRY)


def get(kind: str) -> ClassifierKind:
    """The entry for ``kind``; unknown kinds raise :class:`ConfigError` with a "Did you mean" hint."""
    try:
        return REGISTRY[kind]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(kind), REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown classifier kind {kind!r}; choose one of {', '.join(REGISTRY)}.{hint}"
        ) from None


def uses_encoder(kind: str) -> bool:
    """Whether ``kind`` loads the shared sentence encoder (``False`` for unknown kinds)."""
    entry = REGISTRY.get(kind)
    return bool(entry and entry.uses_encoder)


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


def resolve(path: str) -> Any:
    """The object at ``"package.module:Name"``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def help_text() -> str:
    """``"tfidf: ...; embed: ...; ..."`` for a ``--classifier`` option's help."""
    return "; ".join(f"{k.name}: {k.summary}" for k in REGISTRY.values())
