"""Round 0, curation: the user's data, sub-topics, a balanced, deduplicated, verified training set and a
validation set the classifier never trains on (written on held-out sub-topics unless the user gave one).

A budget that runs out mid-phase keeps what exists (unverified examples are promoted) as long as every
label that can be trained has examples and there is some validation data.
"""

from __future__ import annotations

import math
import time

from ..errors import BudgetError, DataError
from .context import BudgetExhausted, Context
from .generation import Topics, curation_jobs, propose_topics, run_generation
from .pool import choose_anchors, curate_pool, thin_labels
from .userdata import label_unlabelled, store_dev, store_seeds
from .verification import promote_pending, restore_floor, verify_pending


def curate(ctx: Context) -> Topics:
    """Run round 0's curation once (a finished phase returns its stored sub-topics)."""
    cfg = ctx.config
    if ctx.store.phase_done("curate"):
        topics: Topics = ctx.store.phase_info("curate")["topics"]
        return topics
    t0 = time.monotonic()
    topics = {}
    partial = None
    try:
        store_seeds(ctx)
        has_dev = store_dev(ctx) > 0
        epl = cfg.examples_per_label or 24
        per_label = {lab.name: max(0, epl - len(lab.examples)) for lab in ctx.task.labels}
        n_labels = len(ctx.task.labels)
        if not has_dev and ctx.unlabelled:
            n_val = (cfg.val_per_label or 4) * n_labels
            if ctx.pool is not None:  # more validation (real texts), but at most a third of the pool
                n_val = min(max(60, n_val), max(1, len(ctx.unlabelled) // 3))
            label_unlabelled(ctx, min(400, n_val))
        if ctx.pool is not None:  # real texts first; synthetic ones only for labels the pool lacks
            choose_anchors(ctx, ctx.pool)
            curate_pool(ctx, ctx.pool, cfg.pool_per_label or 0)
            thin = set(thin_labels(ctx))
            per_label = {lab: min(n, 8) if lab in thin else 0 for lab, n in per_label.items()}
        if ctx.pool is None:
            topics = propose_topics(ctx)
        else:  # sub-topics only for the labels that get synthetic texts
            topics = propose_topics(ctx, only={lab for lab, n in per_label.items() if n > 0})
        jobs = []  # validation first: it is small, and a budget that ends mid-phase still leaves a score
        if not has_dev and not ctx.unlabelled:
            jobs += curation_jobs(ctx, topics, split="val", per_label=cfg.val_per_label or 4)
        jobs += curation_jobs(ctx, topics, split="train", per_label=per_label)
        run_generation(ctx, jobs, "Curating examples")
        if cfg.verify:
            verify_pending(ctx, 0)
        need = topup_targets(ctx, epl) if ctx.pool is None else {}
        if need:
            extra = curation_jobs(ctx, topics, split="train", per_label=need, start=100, tag="+")
            run_generation(ctx, extra, "Topping up thin labels")
            if cfg.verify:
                verify_pending(ctx, 0, "Verifying top-up")
    except BudgetExhausted as exc:
        partial = exc.reason
        n = promote_pending(ctx, f"not verified: {exc.reason}")
        ctx.warn(f"Curation stopped early: {exc.reason}. Kept what exists ({n} example(s) unverified).")
    restore_floor(ctx, "train")
    # a small model may dispute every validation text of a label (or all of them): without any, no
    # round can be scored, so keep at least one disputed text per label (its verdict stays recorded)
    restore_floor(ctx, "val", minimum=1)
    balance(ctx, cfg.examples_per_label or 24)
    _check_curated(ctx, partial)
    ctx.store.finish_phase(
        "curate", {"topics": topics, "partial": partial, "seconds": round(time.monotonic() - t0, 1)}
    )
    return topics


def _check_curated(ctx: Context, partial: str | None) -> None:
    counts = ctx.store.counts("train")
    empty = [lab for lab in ctx.task.label_names if counts.get(lab, 0) == 0]
    where = f"What was curated stays in {ctx.run_dir}."
    if partial and (empty or not ctx.store.examples(split="val")):
        raise BudgetError(
            f"The budget ran out before one round could finish ({partial}); labels without "
            f"training examples: {_some(empty)}, validation examples: "
            f"{len(ctx.store.examples(split='val'))}. {where} Raise token_budget/time_budget_s "
            f"and resume with `tutorloop run --resume {ctx.run_dir}`."
        )
    for lab in empty:
        candidates = ctx.store.examples(split="train", status=None, label=lab)
        ctx.warn(
            f"Label {lab!r} yielded no usable examples (the model refused, replied empty, or every text "
            f"was disputed; {len(candidates)} candidate(s)). Continuing with the other labels; add a few "
            "seed examples for it in the task file."
        )
    if len(ctx.task.labels) - len(empty) < 2:
        raise DataError(
            f"Fewer than two labels have training examples (empty: {empty}). {where} Add seed "
            "examples to the task file, or try a stronger LLM (--llm)."
        )


def topup_targets(ctx: Context, target: int, split: str = "train") -> dict[str, int]:
    """Per label, how many more examples reach ``target`` (only for labels below 70% of it)."""
    counts = ctx.store.counts(split)
    return {
        lab: target - counts.get(lab, 0)
        for lab in ctx.task.label_names
        if counts.get(lab, 0) < math.ceil(0.7 * target)
    }


def balance(ctx: Context, target: int) -> int:
    """Drop the newest surplus curated training examples above ``target`` per label; returns how many."""
    dropped = 0
    for lab in ctx.task.label_names:
        rows = [e for e in ctx.store.examples(split="train", label=lab) if e["origin"] == "curated"]
        surplus = rows[target:]
        if surplus:
            dropped += ctx.store.drop(
                [e["id"] for e in surplus], reason="balance: above the per-label target", round_idx=0
            )
    return dropped


def _some(names: list[str], shown: int = 10) -> str:
    """``names`` for a message: all of them up to ``shown``, else the first ones and how many more.

    >>> _some([]), _some(["a", "b"]), _some([str(i) for i in range(12)], 2)
    ('none', "['a', 'b']", "['0', '1'] and 10 more")
    """
    if not names:
        return "none"
    more = f" and {len(names) - shown:,} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"
