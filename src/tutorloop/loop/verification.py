"""Blind verification: the LLM labels each pending example without seeing its intended label; matching
examples become active, disputed ones are dropped (with the verdict kept), failed replies keep them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ..data.store import ExampleRow, Verdict
from ..errors import LLMOutputError
from .context import Context
from .label_space import shown_for_texts
from .llm_tasks import LABEL, chunks, run_jobs


def verify_pending(ctx: Context, round_idx: int, description: str = "Verifying examples") -> dict[str, int]:
    """Blindly label every pending example; matching ones become active, disputed ones are dropped."""
    pending = ctx.store.examples(status="pending")
    pending.sort(key=lambda e: hashlib.sha1(str(e["id"]).encode()).hexdigest())  # mix labels in a batch
    batches = chunks(pending, ctx.config.verify_batch or 1)
    jobs = [_verify_job(ctx, batch) for batch in batches]
    stats = {"verified": 0, "disputed": 0, "failed": 0}

    def store(batch: Sequence[ExampleRow], reply: Any) -> None:
        verdicts: dict[int, Verdict] = {}
        for k, ex in enumerate(batch):
            if isinstance(reply, LLMOutputError):
                verdicts[ex["id"]] = (None, "active", "verification reply invalid; kept unverified")
                stats["failed"] += 1
            elif reply.labels[k] == ex["label"]:
                verdicts[ex["id"]] = (reply.labels[k], "active", None)
                stats["verified"] += 1
            else:
                verdicts[ex["id"]] = (
                    reply.labels[k],
                    "dropped",
                    f"blind verification chose {reply.labels[k]!r}",
                )
                stats["disputed"] += 1
        key = "verify:" + hashlib.sha1(",".join(str(e["id"]) for e in batch).encode()).hexdigest()[:16]
        ctx.store.set_verdicts(verdicts, job=key, result=len(batch), round_idx=round_idx)

    run_jobs(ctx, jobs, batches, description, store)
    return stats


def _verify_job(ctx: Context, batch: Sequence[ExampleRow]) -> Any:
    """The blind labelling request for ``batch``: every label, or (many labels) a shortlist of those
    nearest the texts plus the labels they were written for, so that the LLM chooses among a few close
    labels (see :mod:`~tutorloop.loop.label_space`)."""
    texts = [e["text"] for e in batch]
    return LABEL.job(ctx.task, texts, "verify", shown_for_texts(ctx, texts, {e["label"] for e in batch}))


def promote_pending(ctx: Context, reason: str) -> int:
    """Accept pending examples unverified (used when the budget ends verification early)."""
    pending = ctx.store.examples(status="pending")
    ctx.store.set_verdicts({e["id"]: (None, "active", reason) for e in pending})
    return len(pending)


def restore_floor(ctx: Context, split: str, minimum: int = 2) -> None:
    """If verification left a label with fewer than ``minimum`` examples, restore its disputed ones."""
    counts = ctx.store.counts(split)
    for lab in ctx.task.label_names:
        missing = minimum - counts.get(lab, 0)
        if missing <= 0:
            continue
        disputed = [
            e
            for e in ctx.store.examples(split=split, status="dropped", label=lab)
            if (e["reason"] or "").startswith("blind verification")
        ][:missing]
        if disputed:
            ctx.store.set_verdicts(
                {
                    e["id"]: (e["verdict"], "active", "kept despite dispute: label would be almost empty")
                    for e in disputed
                }
            )
