"""The built-in benchmark methods: tutorloop, single-pass, zero-shot similarity / LLM, and few-shot.

Each is a small function of a :class:`~tutorloop.bench.registry.Cell`, registered under its name:

- ``tutorloop``: the full Curate-Train-Refine loop from the label names and the one-line task description
- ``single-pass``: curation only (``max_rounds=0``) with the full loop's token count as ``token_budget``
- ``zero-shot-sim``: nearest label name in the encoder's space
- ``zero-shot-sim-desc``: nearest "name: description" (only where the tasks file gives label descriptions)
- ``zero-shot-llm``: the LLM classifies the texts itself (JSON-schema constrained), on a seeded sample
- ``few-shot-setfit``: SetFit on the k real examples per class (also ``few-shot-embed``, ``few-shot-tfidf``)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, create_model

from ..classifiers import KINDS
from ..classifiers.registry import uses_encoder
from ..errors import ConfigError, LLMOutputError
from ..llm.base import StructuredJob
from ..llm.ledger import Ledger
from .registry import Cell, MethodOutput, register_method

INVALID = "<no valid answer>"
_LOOP_USES = ("classifier", "rounds", "examples_per_label", "loop_params", "k", "encoder")


# -- helpers ---------------------------------------------------------------------------------------
def measure_throughput(predict: Callable[[list[str]], Any], texts: Sequence[str], limit: int = 1000) -> float:
    """Texts per second of ``predict`` on up to ``limit`` texts (cycled when fewer), after a warm-up call.

    Every timed text gets a trailing-whitespace suffix unique to this call (tokenizers and TF-IDF ignore it),
    so a per-text embedding cache filled by an earlier prediction cannot make the timing look faster.

    >>> measure_throughput(lambda xs: [x.upper() for x in xs], ["a", "b"], limit=10) > 0
    True
    """
    if not texts:
        return 0.0
    global _CALLS
    _CALLS += 1
    n = max(1, int(limit))
    batch = [texts[i % len(texts)] + "\t" * _CALLS + " " * (1 + i // len(texts)) for i in range(n)]
    predict([t + "\n" for t in batch[: min(8, n)]])  # warm-up: lazy loads, first-call overheads
    start = time.perf_counter()
    predict(batch)
    return n / max(time.perf_counter() - start, 1e-9)


_CALLS = 0


def _score_artifact(folder: Path, cell: Cell) -> tuple[list[str], float]:
    """Predictions and throughput of the saved artifact, as ``tutorloop.load`` serves it (no torch for
    embed/setfit: ONNX), so every trained classifier is timed in its deployed form."""
    from ..classifiers import load

    predictor = load(folder)
    texts = cell.eval_texts
    preds = [str(p) for p in predictor.predict(texts)]
    return preds, measure_throughput(predictor.predict, texts, cell.settings.throughput_texts)


def _ledger_usage(ledger: Ledger) -> tuple[int, int, int]:
    """(tokens, calls, cache hits) over every entry: a cached reply still counts the tokens it cost."""
    entries = list(ledger.entries)
    tokens = sum(e.prompt_tokens + e.completion_tokens for e in entries)
    return tokens, len(entries), sum(1 for e in entries if e.cached)


def _nearest(encoder: Any, texts: list[str], anchors: list[str], labels: list[str]) -> list[str]:
    a = np.asarray(encoder.encode(anchors), dtype=np.float32)
    x = np.asarray(encoder.encode(texts), dtype=np.float32)
    return [labels[i] for i in np.argmax(x @ a.T, axis=1)]


# -- zero-shot similarity ----------------------------------------------------------------------------
@register_method(
    "zero-shot-sim", uses=("encoder",), description="nearest label name in the encoder's embedding space"
)
def zero_shot_sim(cell: Cell) -> MethodOutput:
    return _similarity(cell, list(cell.dataset.labels), "label names")


@register_method(
    "zero-shot-sim-desc",
    uses=("encoder",),
    description="nearest 'name: description' (label descriptions from the tasks file)",
)
def zero_shot_sim_desc(cell: Cell) -> MethodOutput:
    descs = cell.task.label_descriptions
    if not descs:
        raise ConfigError(
            f"zero-shot-sim-desc needs label descriptions for '{cell.dataset.name}' in the "
            "tasks file (labels: {name: description}); none are given. Drop the method or "
            "add them."
        )
    anchors = [f"{lab}: {descs[lab]}" if descs.get(lab) else lab for lab in cell.dataset.labels]
    return _similarity(cell, anchors, "label names with descriptions")


def _similarity(cell: Cell, anchors: list[str], what: str) -> MethodOutput:
    encoder = cell.encoder
    labels = list(cell.dataset.labels)
    texts = cell.eval_texts
    preds = _nearest(encoder, texts, anchors, labels)
    tput = measure_throughput(
        lambda xs: _nearest(encoder, xs, anchors, labels), texts, cell.settings.throughput_texts
    )
    return MethodOutput(predictions=preds, throughput=tput, extra={"anchors": what})


# -- zero-shot LLM -----------------------------------------------------------------------------------
def label_schema(labels: Sequence[str]) -> type[BaseModel]:
    """A pydantic model ``{"label": one of labels}`` (extra keys forbidden), for constrained decoding.

    >>> Reply = label_schema(["negative", "positive"])
    >>> Reply.model_validate_json('{"label": "positive"}').label
    'positive'
    """
    field: Any = (Literal[tuple(labels)], ...)  # a runtime Literal: typed as Any for every pydantic's stubs
    return create_model("LabelReply", __config__=ConfigDict(extra="forbid"), label=field)


def zero_shot_messages(description: str, labels: Sequence[str], text: str) -> list[dict[str, str]]:
    """Label-list-first prompt: the fixed part (task, labels) first so llama.cpp reuses its cached prefix."""
    listing = "\n".join(f"- {lab}" for lab in labels)
    system = (
        f"You are a text classifier. Task: {description}\n"
        f"Labels (answer with exactly one of these names):\n{listing}\n"
        'Reply with JSON {"label": "<one label name>"} and nothing else.'
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Text: {text}"}]


def llm_sample_positions(n_eval: int, sample: int, seed: int) -> list[int]:
    """Positions in the evaluation set that the zero-shot LLM classifies: all, or a seeded sample (sorted).

    >>> llm_sample_positions(5, 0, 1)
    [0, 1, 2, 3, 4]
    >>> llm_sample_positions(1000, 3, 1) == llm_sample_positions(1000, 3, 1)
    True
    """
    if sample <= 0 or sample >= n_eval:
        return list(range(n_eval))
    return sorted(random.Random(seed).sample(range(n_eval), sample))


@register_method(
    "zero-shot-llm",
    needs_llm=True,
    uses=("llm_sample", "k"),
    description="the LLM labels the texts itself (JSON-schema constrained, temperature 0)",
)
def zero_shot_llm(cell: Cell) -> MethodOutput:
    from ..loop.context import UI

    llm = cell.llm
    labels = list(cell.dataset.labels)
    schema = label_schema(labels)
    texts = cell.eval_texts
    positions = llm_sample_positions(len(texts), cell.settings.llm_sample, cell.seed)
    jobs = [
        StructuredJob(
            messages=zero_shot_messages(cell.task.description, labels, texts[p]),
            schema=schema,
            temperature=0.0,
            max_tokens=64,
            purpose="bench-zero-shot",
        )
        for p in positions
    ]
    ledger = Ledger(cost_per_1k=getattr(llm.ledger, "cost_per_1k", (0.0, 0.0)))
    llm = llm.recording_to(ledger)  # the cell's own ledger; the shared LLM object is not changed
    start = time.perf_counter()
    with UI(cell.progress).phase("Teacher classifying test texts", len(jobs)) as advance:
        replies = llm.structured_many(jobs, on_done=advance)
    elapsed = max(time.perf_counter() - start, 1e-9)
    preds = [INVALID if isinstance(r, LLMOutputError) else str(r.label) for r in replies]
    tokens, calls, hits = _ledger_usage(ledger)
    invalid = sum(p == INVALID for p in preds)
    notes = []
    if len(positions) < len(texts):
        notes.append(
            f"zero-shot LLM scored on a seeded random sample of {len(positions)} of {len(texts)} texts"
        )
    if invalid:
        notes.append(f"{invalid} replies never matched the schema (counted wrong)")
    if hits:
        notes.append(f"{hits} of {calls} LLM replies came from the cache: throughput overstated")
    return MethodOutput(
        predictions=preds,
        positions=positions,
        llm_tokens=tokens,
        llm_calls=calls,
        throughput=len(positions) / elapsed,
        notes=notes,
        extra={
            "n_classified": len(positions),
            "invalid": invalid,
            "cache_hits": hits,
            "tokens_per_text": tokens / max(1, len(positions)),
            "llm_seconds": elapsed,
        },
    )


# -- few-shot ----------------------------------------------------------------------------------------
def _few_shot(kind: str) -> Callable[[Cell], MethodOutput]:
    def method(cell: Cell) -> MethodOutput:
        from ..classifiers import make_classifier

        if cell.split.k < 1:
            raise ConfigError(f"few-shot-{kind} needs k >= 1 real examples per class; got k={cell.split.k}.")
        clf = make_classifier(kind, **_seed_param(kind, cell.seed), **cell.settings.classifier_params(kind))
        t0 = time.perf_counter()
        clf.fit(cell.fewshot_texts, cell.fewshot_gold)
        train_s = time.perf_counter() - t0
        # scored in memory: exporting fresh SetFit weights to ONNX took minutes on 2 cores, per seed
        preds = [str(p) for p in clf.predict(cell.eval_texts)]
        tput = measure_throughput(clf.predict, cell.eval_texts, cell.settings.throughput_texts)
        return MethodOutput(
            predictions=preds,
            throughput=tput,
            extra={
                "n_train": len(cell.split.train_idx),
                "train_s": round(train_s, 2),
                "inference": "in-memory classifier",
            },
        )

    method.__name__ = f"few_shot_{kind}"
    method.__doc__ = f"A {kind} classifier fitted on the k real examples per class of the split."
    return method


def _seed_param(kind: str, seed: int) -> dict[str, Any]:
    """The classifier's seed parameter, whatever it is called (``random_state`` or ``seed``)."""
    from ..classifiers import classifier_class

    params = classifier_class(kind)().get_params()
    for name in ("random_state", "seed"):
        if name in params:
            return {name: seed}
    return {}


for _kind in KINDS:
    register_method(
        f"few-shot-{_kind}",
        needs_fewshot=True,
        uses=("k", "encoder") if uses_encoder(_kind) else ("k",),
        description=f"{_kind} classifier on k real labelled examples per class",
    )(_few_shot(_kind))


# -- tutorloop and single-pass -----------------------------------------------------------------------
def _loop_task(cell: Cell) -> Any:
    from ..loop.task import Task

    # label names + the one-line description only: never label descriptions, never test texts
    return Task.from_labels(cell.task.description, list(cell.dataset.labels))


def _run_loop(cell: Cell, config: Any, *, unlabelled: Any = None) -> tuple[Any, MethodOutput]:
    """Run (or, for an interrupted cell, resume: resume=None) the loop in the cell's run folder; the run
    keeps its own ledger, whose summary gives the cell's tokens. ``unlabelled``: the pool setting's file."""
    from dataclasses import replace

    from ..loop import run

    task = _loop_task(cell)
    if unlabelled is not None:
        task = replace(task, unlabelled=unlabelled)
    result = run(
        task,
        llm=cell.llm,
        classifier=cell.settings.classifier,
        config=config,
        out=cell.run_dir,
        resume=None,
        progress=cell.progress,
        llm_spec=cell.settings.llm_spec or None,
    )
    if (cell.run_dir / "model").is_dir():
        preds, tput = _score_artifact(cell.run_dir / "model", cell)
        inference = "saved artifact (tutorloop.load)"
    else:  # a classifier without save(): time the in-memory predictor
        preds = [str(p) for p in result.predictor.predict(cell.eval_texts)]
        tput = measure_throughput(result.predictor.predict, cell.eval_texts, cell.settings.throughput_texts)
        inference = "in-memory predictor"
    ledger = dict(result.ledger or {})
    history = [_round_summary(h) for h in (result.history or [])]
    best = next((h for h in history if h.get("round") == result.best_round), history[-1] if history else {})
    extra = {
        "best_round": result.best_round,
        "rounds": len(history),
        "n_train": best.get("n_train"),
        "history": history,
        "ledger": ledger,
        "run_dir": str(cell.run_dir),
        "inference": inference,
        "config": config.to_dict() if hasattr(config, "to_dict") else None,
    }
    tokens = int(ledger.get("work_tokens", ledger.get("total_tokens", 0)))
    return result, MethodOutput(
        predictions=preds,
        llm_tokens=tokens,
        llm_calls=int(ledger.get("calls", 0)),
        throughput=tput,
        extra=extra,
    )


def _round_summary(h: dict[str, Any]) -> dict[str, Any]:
    """The per-round facts worth keeping in results.json (the loop's ``accuracy``/``macro_f1`` are on its
    own synthetic validation set, hence the ``val_`` prefix)."""
    out: dict[str, Any] = {
        k: h[k]
        for k in ("round", "n_train", "n_val", "added", "dropped", "tokens", "seconds", "decided_by")
        if k in h
    }
    out.update({f"val_{k}": h[k] for k in ("accuracy", "macro_f1", "trusted_accuracy") if k in h})
    return out


def _loop_config(cell: Cell, **overrides: Any) -> Any:
    from ..loop.config import LoopConfig

    params: dict[str, Any] = {"seed": cell.seed, **cell.settings.loop_params}
    if cell.settings.encoder:
        params["encoder"] = cell.settings.encoder
    if cell.settings.rounds is not None:
        params["max_rounds"] = cell.settings.rounds
    if cell.settings.examples_per_label is not None:
        params["examples_per_label"] = cell.settings.examples_per_label
    params.update(overrides)
    return LoopConfig(**params)


@register_method(
    "tutorloop",
    needs_llm=True,
    uses=_LOOP_USES,
    description="full Curate-Train-Refine loop from the label names and a one-line description",
)
def tutorloop_full(cell: Cell) -> MethodOutput:
    _, out = _run_loop(cell, _loop_config(cell))
    return out


def _single_pass_size(full: dict[str, Any], base: int, n_labels: int) -> int:
    """Examples per label for single-pass, so that its one curation spends what the full loop spent.

    The full loop's round 0 asked for ``base`` per label and spent ``history[0].tokens``; curation cost
    grows with the number asked for, so ask for ``base × total / round-0 tokens``, and never fewer than the
    full loop's final training set per label. ``token_budget`` still caps the spend.

    >>> full = {"llm_tokens": 150, "extra": {"n_train": 20, "history": [{"tokens": 100}, {"tokens": 50}]}}
    >>> _single_pass_size(full, 16, 2)
    24
    """
    extra = full.get("extra") or {}
    total = int(full.get("llm_tokens") or 0)
    first = int(((extra.get("history") or [{}])[0]).get("tokens") or 0)
    scaled = math.ceil(base * total / first) if first and total else base
    final = math.ceil(int(extra.get("n_train") or 0) / n_labels)
    return min(max(base, scaled, final), 1000)


@register_method(
    "single-pass",
    needs_llm=True,
    after=("tutorloop",),
    uses=_LOOP_USES,
    description="curation only (round 0) at the full loop's LLM token budget",
)
def single_pass(cell: Cell) -> MethodOutput:
    full = cell.done.get("tutorloop")
    n_labels = len(cell.dataset.labels)
    if full and full.get("status") == "ok" and full.get("llm_tokens"):
        budget = int(full["llm_tokens"])
        epl = _single_pass_size(full, _loop_config(cell).resolved(n_labels).examples_per_label, n_labels)
        config = _loop_config(cell, max_rounds=0, token_budget=budget, examples_per_label=epl)
        note = (
            f"single-pass: token_budget = the full loop's {budget:,} tokens, asking for "
            f"{epl} examples per label (round 0's request scaled to spend that budget)"
        )
    else:
        config = _loop_config(cell, max_rounds=0)
        budget, epl = None, None
        note = (
            "single-pass: no finished full-loop cell to match, so default curation size and no token budget"
        )
    _, out = _run_loop(cell, config)
    out.notes.append(note)
    out.extra.update({"token_budget": budget, "examples_per_label": epl})
    return out
