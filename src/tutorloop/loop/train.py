"""Train the chosen classifier on the active training set, evaluate it on the validation set, and record
the round (its model is saved when it is the best so far)."""

from __future__ import annotations

import inspect
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from ..classifiers import make_classifier, params_taken
from ..data.store import ExampleRow, Store
from ..errors import DataError
from ..evaluation.analysis import (
    Analysis,
    RoundRecord,
    align_proba,
    analyse,
    best_round,
    implausible_training,
    is_better,
)
from .context import Context
from .label_space import label_anchors
from .pool import SELF, pool_validation, save_student, trusted_mask

SELF_WEIGHTS = (0.0, 0.1, 0.3, 1.0)
"""Weights tried for self-labelled examples when ``self_label_weight`` is None (0 = left out; 1 = as much
as a teacher label, for tasks where the prior is the better labeller)."""


def build_classifier(
    spec: Any, label_anchors: dict[str, str] | None = None, encoder: str | None = None
) -> Any:
    """A fresh, untrained classifier from a kind name (``"tfidf"``) or an estimator to clone.
    ``label_anchors`` (the embed head's label prior) and ``encoder`` (the run's sentence encoder) go to a
    kind that takes them; an estimator keeps its own settings (:func:`~.setup.open_run` checks that its
    encoder is the run's)."""
    if isinstance(spec, str):
        return make_classifier(spec, **params_taken(spec, label_anchors=label_anchors, encoder=encoder))
    return clone(spec)


def run_anchors(ctx: Context) -> dict[str, str] | None:
    """The label anchors the run's classifier gets: only in the zero-shot setting with ``label_prior``
    (with unlabelled texts, the self-labels already carry the prior)."""
    if ctx.pool is not None or not ctx.config.label_prior:
        return None
    return label_anchors(ctx.task)


def train_and_evaluate(ctx: Context, classifier: Any, round_idx: int) -> tuple[Any, Analysis]:
    """Fit on the active training examples; return the fitted model and the round's analysis.

    Self-labelled pool examples (origin ``self``) weigh ``self_label_weight``; when that is ``None`` the
    weight is chosen on the validation set among :data:`SELF_WEIGHTS` (the run measures how far the
    encoder's prior can be trusted on this task). Every other example weighs 1. With teacher-labelled pool
    texts as validation, candidates are ranked by their accuracy on the trusted ones (teacher and prior
    agree, :func:`.pool.trusted_mask`), then by macro-F1 on all of them.
    """
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
    has_self = any(e["origin"] == SELF for e in train)
    fixed = ctx.config.self_label_weight
    candidates = [1.0] if not has_self else ([fixed] if fixed is not None else list(SELF_WEIGHTS))
    val_texts, val_labels = [e["text"] for e in val], [e["label"] for e in val]
    trusted = trusted_mask(ctx, val)
    best: tuple[Any, Analysis, float, list[ExampleRow]] | None = None
    best_key = (-1.0, -1.0)
    t0 = time.monotonic()
    for w_self in candidates:
        if len({e["label"] for e in kept_rows(train, w_self)}) < 2:
            continue
        model, rows = fit_rows(classifier, run_anchors(ctx), train, w_self, ctx.config.encoder)
        val_proba = align_proba(model.predict_proba(val_texts), model.classes_, labels)
        analysis = analyse(val_texts, val_labels, val_proba, labels)
        if trusted is not None:
            hits = np.argmax(val_proba, axis=1) == np.array([labels.index(y) for y in val_labels])
            analysis["trusted_accuracy"] = round(float(hits[trusted].mean()), 4)
            analysis["n_trusted"] = int(trusted.sum())
            analysis["trusted_hits"] = {
                str(e["id"]): int(h) for e, h, t in zip(val, hits, trusted, strict=True) if t
            }
        key = (float(analysis.get("trusted_accuracy", 0.0)), float(analysis["metrics"]["macro_f1"]))
        if best is None or key > best_key:  # ties keep the earlier (lighter) weight
            best, best_key = (model, analysis, w_self, rows), key
    assert best is not None  # two labels are present, so the all-weights-1 candidate always fits
    model, analysis, w_self, train = best
    fit_s = time.monotonic() - t0
    train_proba = align_proba(model.predict_proba([e["text"] for e in train]), model.classes_, labels)
    editable = [(e, p) for e, p in zip(train, train_proba, strict=True) if e["origin"] not in ("seed", SELF)]
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
    if has_self:
        analysis["self_label_weight"] = w_self
    if ctx.pool is not None:  # where the next round's teacher labels help most
        ctx.pool.student_proba = align_proba(model.predict_proba(ctx.unlabelled), model.classes_, labels)
    return model, analysis


def refit_with_validation(ctx: Context, classifier: Any, record: RoundRecord) -> Any:
    """The kept round's model, fitted again on its training set plus the validation texts that the LLM
    labelled from the pool: once the round is chosen, those labels are worth more as training data than
    held back (same self-label weight as the round chose). The round's recorded scores are the ones its
    validation measured before this refit."""
    round_idx = int(record["round"])
    rows = ctx.store.train_set_at(round_idx) + pool_validation(ctx.store)
    w_self = round_self_weight(ctx.store, round_idx)
    model, _ = fit_rows(classifier, run_anchors(ctx), rows, w_self, ctx.config.encoder)
    return model


def kept_rows(rows: list[ExampleRow], w_self: float) -> list[ExampleRow]:
    """``rows`` without the self-labelled ones when their weight is 0."""
    return [e for e in rows if e["origin"] != SELF or w_self > 0]


def fit_rows(
    spec: Any,
    anchors: dict[str, str] | None,
    rows: list[ExampleRow],
    w_self: float,
    encoder: str | None = None,
) -> tuple[Any, list[ExampleRow]]:
    """A fresh classifier fitted on ``rows`` as the loop trains: self-labelled examples weigh ``w_self``
    (left out at 0), every other example 1; ``encoder``: the run's sentence encoder (``None``: the
    default). Returns the model and the rows it was fitted on."""
    rows = kept_rows(rows, w_self)
    model = build_classifier(spec, anchors, encoder)
    weights = [w_self if e["origin"] == SELF else 1.0 for e in rows]
    fit_weighted(model, [e["text"] for e in rows], [e["label"] for e in rows], weights)
    return model, rows


def round_self_weight(store: Store, round_idx: int) -> float:
    """The self-label weight round ``round_idx`` chose (1.0 when it had no self-labelled examples)."""
    for r in store.rounds():
        if int(r["round"]) == round_idx:
            analysis: dict[str, Any] = dict(r.get("analysis") or {})
            return float(analysis.get("self_label_weight", 1.0))
    return 1.0


def fit_weighted(model: Any, texts: list[str], labels: list[str], weights: list[float]) -> None:
    """``model.fit`` with ``sample_weight`` when any weight differs from 1 (an estimator without
    ``sample_weight`` gets the rows unweighted)."""
    if all(w == 1.0 for w in weights):
        model.fit(texts, labels)
        return
    try:
        accepts = "sample_weight" in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        accepts = False
    if accepts:
        model.fit(texts, labels, sample_weight=np.asarray(weights, dtype=np.float64))
    else:
        model.fit(texts, labels)


def train_round(
    ctx: Context,
    classifier: Any,
    round_idx: int,
    *,
    started: float,
    decided_by: str,
    diagnosis: str,
    actions: list[dict[str, Any]],
) -> tuple[Any, RoundRecord]:
    """Train and evaluate round ``round_idx``, save its model if it is the best round so far, and store
    its record (with the analysis). ``started``: when the round began (in this process). The round's
    ``tokens`` are those spent since the previous round's record, so a round resumed after a crash counts
    what it spent before the crash too. Returns the fitted model and the record (without the analysis)."""
    with ctx.ui.phase(f"Round {round_idx}: training", 1) as advance:
        model, analysis = train_and_evaluate(ctx, classifier, round_idx)
        advance()
    if ctx.pool is not None:  # before the record: a resumed run plans its next label_pool from this student
        save_student(ctx.run_dir, round_idx, ctx.pool.student_proba)
    m = analysis["metrics"]
    log_loss = m.get("log_loss")
    train_all = ctx.store.examples(split="train", status=None)
    earlier = [h for h in ctx.store.rounds() if h["round"] < round_idx]
    tokens_before = earlier[-1]["tokens_total"] if earlier else 0
    record: RoundRecord = {
        "round": round_idx,
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "log_loss": None if log_loss is None else round(float(log_loss), 4),
        "per_class": {lab: round(v["f1"], 4) for lab, v in m["per_class"].items()},
        "n_train": analysis["n_train"],
        "n_val": analysis["n_val"],
        "added": sum(1 for e in train_all if e["round"] == round_idx and e["status"] == "active"),
        "dropped": sum(1 for e in train_all if e["dropped_round"] == round_idx and e["round"] < round_idx),
        "tokens": ctx.budget.tokens_used() - tokens_before,
        "tokens_total": ctx.budget.tokens_used(),
        "seconds": round(time.monotonic() - started, 1),
        "decided_by": decided_by,
        "diagnosis": diagnosis,
        "actions": actions,
        "top_confusions": analysis["confusions"][:5],
    }
    if "trusted_accuracy" in analysis:
        record["trusted_accuracy"] = analysis["trusted_accuracy"]
        record["n_trusted"] = analysis["n_trusted"]
        record["trusted_hits"] = analysis["trusted_hits"]
    best = best_round(ctx.store.rounds(), ctx.config.min_improvement)
    if best is None or is_better(record, best, ctx.config.min_improvement):
        save_model(ctx, model, record)  # the model first: a crash before the record retrains this round
    ctx.store.save_round(round_idx, {**record, "analysis": analysis})
    best = best_round(ctx.store.rounds(), ctx.config.min_improvement) or record
    trusted = f", trusted acc {record['trusted_accuracy']:.3f}" if "trusted_accuracy" in record else ""
    ctx.ui.line(
        f"round {round_idx}: val macro-F1 {m['macro_f1']:.3f}, acc {m['accuracy']:.3f}{trusted} | train "
        f"{record['n_train']} (+{record['added']}, -{record['dropped']}) | {record['tokens']:,} tokens | "
        f"{record['seconds']:.0f} s | best {best['macro_f1']:.3f} (round {best['round']})"
    )
    return model, record


def save_model(ctx: Context, model: Any, record: RoundRecord, *, refit: int = 0) -> None:
    """Save ``model`` as the run's ``model`` folder, if it can be saved. ``refit``: how many validation
    texts the model was refitted with after the round was chosen (recorded).

    The new model is written to ``model.tmp``, then swapped in by renames: ``model`` -> ``model.old``,
    ``model.tmp`` -> ``model``, then ``model.old`` is deleted. A crash at any point leaves a whole model in
    ``model`` or ``model.old``, and :func:`recover_model` (called when a run is opened) puts it back.
    """
    if not hasattr(model, "save"):
        return
    target, tmp, old = ctx.run_dir / "model", ctx.run_dir / "model.tmp", ctx.run_dir / "model.old"
    shutil.rmtree(tmp, ignore_errors=True)
    metrics = {
        "val_accuracy": record["accuracy"],
        "val_macro_f1": record["macro_f1"],
        "round": record["round"],
    }
    extra: dict[str, Any] = {"round": record["round"], "task": ctx.task.description}
    if refit:
        extra["refit_with_validation_texts"] = refit
    model.save(tmp, metrics=metrics, extra=extra)
    recover_model(ctx.run_dir)  # a model.old left by an earlier crash goes first (or back, if alone)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_model(run_dir: Path) -> None:
    """Finish a model swap that a crash interrupted: keep ``model`` if it is there, else ``model.old``."""
    target, old = run_dir / "model", run_dir / "model.old"
    if not old.exists():
        return
    if target.exists():
        shutil.rmtree(old)
    else:
        old.rename(target)
