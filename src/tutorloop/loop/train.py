"""Train the chosen classifier on the active training set and evaluate it on the validation set."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import clone

from ..classifiers import make_classifier
from ..errors import DataError
from ..evaluation.analysis import align_proba, analyse, implausible_training
from .context import Context


def build_classifier(spec: Any) -> Any:
    """A fresh, untrained classifier from a kind name (``"tfidf"``) or an estimator to clone."""
    if isinstance(spec, str):
        return make_classifier(spec)
    return clone(spec)


def train_and_evaluate(ctx: Context, classifier: Any, round_: int) -> tuple[Any, dict[str, Any]]:
    """Fit on the active training examples; return the fitted model and the round's analysis."""
    train = ctx.store.examples(split="train")
    val = ctx.store.examples(split="val")
    if not val:
        raise DataError(
            "There is no validation data, so rounds cannot be scored. Give a dev set, unlabelled "
            "texts, or keep val_per_label above 0."
        )
    labels = ctx.task.label_names
    present = sorted({e["label"] for e in train})
    if len(present) < 2:
        raise DataError(
            f"Only {len(present)} label(s) have training examples ({present}); a classifier needs "
            "two. Add seed examples to the task file, or check the LLM's replies in the run folder."
        )
    t0 = time.monotonic()
    model = build_classifier(classifier)
    model.fit([e["text"] for e in train], [e["label"] for e in train])
    fit_s = time.monotonic() - t0
    val_proba = align_proba(model.predict_proba([e["text"] for e in val]), model.classes_, labels)
    analysis = analyse([e["text"] for e in val], [e["label"] for e in val], val_proba, labels)
    train_proba = align_proba(model.predict_proba([e["text"] for e in train]), model.classes_, labels)
    editable = [(e, p) for e, p in zip(train, train_proba, strict=True) if e["origin"] != "seed"]
    analysis["implausible"] = implausible_training(
        [e["id"] for e, _ in editable],
        [e["text"] for e, _ in editable],
        [e["label"] for e, _ in editable],
        np.array([p for _, p in editable]).reshape(len(editable), len(labels)),
        labels,
    )
    analysis["fit_seconds"] = round(fit_s, 2)
    analysis["n_train"] = len(train)
    analysis["n_val"] = len(val)
    analysis["train_counts"] = ctx.store.counts("train")
    return model, analysis
