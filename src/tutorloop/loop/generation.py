"""Generation: sub-topics per label, generation jobs (one label, one attribute combination, ``n`` texts),
and running them into the store, deduplicated.

Every LLM call is a *job* with a deterministic key. A job's examples and its key are stored in one
transaction, so a resumed run skips finished jobs (and the LLM cache makes any repeat free).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ..data.store import NewExample
from ..prompts import Rendered
from .context import Context
from .label_space import shown_for_label
from .llm_tasks import GENERATE, LENGTHS, TOPICS, run_jobs

STYLES = (
    "casual",
    "formal",
    "terse",
    "emotional",
    "detailed and specific",
    "a question",
    "matter-of-fact",
    "written by a non-native speaker",
)
# Validation texts are asked to be less obvious than training texts: a synthetic validation set that the
# first classifier already gets entirely right cannot show what refinement fixes.
VAL_HARDNESS = "; indirect and realistic, avoiding the label's name and its most obvious keywords"
_FALLBACK_TOPICS = ("a typical case", "an unusual case", "a borderline case", "a short everyday case")

Topics = dict[str, dict[str, list[str]]]
"""Per label, disjoint ``train`` and ``val`` sub-topic lists."""


@dataclass
class GenJob:
    """One generation call: ``n`` texts for ``label`` under one attribute combination."""

    key: str
    label: str
    split: str
    origin: str
    round_idx: int
    n: int
    attributes: dict[str, Any]
    sample_index: int
    guidance: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- sub-topics -----------------------------------------------------------------------------------------
def propose_topics(ctx: Context, only: Collection[str] | None = None) -> Topics:
    """Per label, sub-topics split into disjoint ``train`` and ``val`` lists (asked once, then stored).
    ``only``: ask the LLM for these labels alone (the others get generic fallback topics)."""
    n = ctx.config.topics_per_label or 6
    labels = ctx.task.label_names
    asked = labels if only is None else [lab for lab in labels if lab in only]
    todo = [lab for lab in asked if ctx.store.job_result(f"topics:{lab}") is None]
    jobs = [TOPICS.job(ctx.task, lab, n, shown_for_label(ctx, lab)) for lab in todo]

    def store(lab: str, reply: Any) -> None:
        ctx.store.finish_job(f"topics:{lab}", TOPICS.parse(reply, n))

    run_jobs(ctx, jobs, todo, "Proposing sub-topics", store)
    out = {}
    for lab in labels:
        topics = ctx.store.job_result(f"topics:{lab}") or []
        if len(topics) < 2:
            topics = topics + [t for t in _FALLBACK_TOPICS if t not in topics]
        n_val = max(1, round(len(topics) / 3))
        out[lab] = {"train": topics[:-n_val], "val": topics[-n_val:]}
    return out


# -- jobs -----------------------------------------------------------------------------------------------
def gen_jobs(
    ctx: Context,
    label: str,
    n: int,
    *,
    split: str,
    origin: str,
    round_idx: int,
    key: Callable[[int], str],
    sample_index: Callable[[int], int],
    attributes: Callable[[int], dict[str, Any]],
    guidance: str = "",
    extra: dict[str, Any] | None = None,
) -> list[GenJob]:
    """``n`` texts of ``label`` as jobs of at most ``examples_per_call`` texts each. Job ``c`` (0, 1, ...)
    gets ``key(c)``, ``sample_index(c)`` and ``attributes(c)``, called in that order."""
    epc = ctx.config.examples_per_call
    jobs, c = [], 0
    while n > 0:
        k = min(epc, n)
        jobs.append(
            GenJob(
                key(c),
                label,
                split,
                origin,
                round_idx,
                k,
                attributes(c),
                sample_index=sample_index(c),
                guidance=guidance,
                extra=dict(extra or {}),
            )
        )
        n -= k
        c += 1
    return jobs


def curation_jobs(
    ctx: Context,
    topics: Topics,
    *,
    split: str,
    per_label: int | dict[str, int],
    start: int = 0,
    tag: str = "",
) -> list[GenJob]:
    """Round 0: ``per_label`` examples per label, cycling through the split's sub-topics, lengths and
    (shuffled) styles, interleaved across labels (so that a budget that runs out mid-phase leaves every
    label with some examples). ``start``/``tag`` give a top-up its own job keys."""
    origin = "curated" if split == "train" else "validation"
    by_label = []
    for lab in ctx.task.label_names:
        want = per_label.get(lab, 0) if isinstance(per_label, dict) else per_label
        if want <= 0:
            continue
        rng = random.Random(f"{ctx.config.seed}:{split}:{lab}")
        styles = list(STYLES)
        rng.shuffle(styles)
        subs = topics[lab][split] or topics[lab]["train"]
        by_label.append(
            gen_jobs(
                ctx,
                lab,
                want,
                split=split,
                origin=origin,
                round_idx=0,
                key=_keys(f"gen:{split}{tag}:0:{lab}:", start),
                sample_index=lambda c: start + c,
                attributes=_cycled(rng, styles, subs, start, hard=split == "val"),
            )
        )
    longest = max((len(g) for g in by_label), default=0)
    return [g[i] for i in range(longest) for g in by_label if i < len(g)]


def _keys(prefix: str, start: int) -> Callable[[int], str]:
    return lambda c: f"{prefix}{start + c}"


def _cycled(
    rng: random.Random, styles: list[str], subs: list[str], start: int, *, hard: bool
) -> Callable[[int], dict[str, Any]]:
    def attributes(c: int) -> dict[str, Any]:
        i = start + c
        return {
            "topic": subs[i % len(subs)],
            "length": LENGTHS[(i + rng.randrange(3)) % 3],
            "style": styles[i % len(styles)] + (VAL_HARDNESS if hard else ""),
            "noise": i % 4 == 3,
        }

    return attributes


def targeted_jobs(
    ctx: Context,
    topics: Topics,
    label: str,
    n: int,
    *,
    guidance: str,
    round_idx: int,
    action_idx: int,
    extra: dict[str, Any],
) -> list[GenJob]:
    """A refinement action's ``n`` training texts of ``label``: random training sub-topics and attributes
    (seeded by round and action), with the action's ``guidance``; ``extra`` joins each text's attributes."""
    subs = topics.get(label, {}).get("train") or ["any situation"]
    rng = random.Random(f"{ctx.config.seed}:{round_idx}:{action_idx}:{label}")
    return gen_jobs(
        ctx,
        label,
        n,
        split="train",
        origin="targeted",
        round_idx=round_idx,
        key=lambda c: f"gen:r{round_idx}:a{action_idx}:{label}:{c}",
        sample_index=lambda c: 1000 * round_idx + 10 * action_idx + c,
        attributes=lambda c: {
            "topic": rng.choice(subs),
            "length": rng.choice(LENGTHS),
            "style": rng.choice(STYLES),
            "noise": rng.random() < 0.25,
        },
        guidance=guidance,
        extra=extra,
    )


# -- running --------------------------------------------------------------------------------------------
def run_generation(ctx: Context, jobs: list[GenJob], description: str) -> dict[str, int]:
    """Run the jobs not finished yet; store their (deduplicated) texts. Returns the counts of raw, kept,
    refused texts and failed jobs over all ``jobs``, those finished before a resume included."""
    todo = [j for j in jobs if ctx.store.job_result(j.key) is None]
    names = {n.lower() for n in ctx.task.label_names}
    rendered: dict[str, Rendered] = {
        j.key: GENERATE.render_job(ctx.task, ctx.unlabelled, j, shown_for_label(ctx, j.label)) for j in todo
    }
    structured = [GENERATE.job(rendered[j.key], j, ctx.config.temperature) for j in todo]

    def store(job: GenJob, reply: Any) -> None:
        texts, refused, error = GENERATE.parse(reply, job.n, names)
        keep = ctx.dedup.add(texts)
        status = "pending" if ctx.config.verify else "active"
        rows = [
            NewExample(
                t,
                job.label,
                job.split,
                job.origin,
                job.round_idx,
                job.attributes | job.extra,
                status=status,
                model=ctx.llm.model,
                prompt_id=rendered[job.key].prompt_id,
            )
            for t, k in zip(texts, keep, strict=True)
            if k
        ]
        result = {"raw": len(texts) + refused, "kept": len(rows), "refused": refused, "error": error}
        ctx.store.add_examples(rows, job=job.key, result=result)

    run_jobs(ctx, structured, todo, description, store)
    stats = {"raw": 0, "kept": 0, "failed": 0, "refused": 0}
    for job in jobs:
        done = ctx.store.job_result(job.key) or {}
        stats["raw"] += int(done.get("raw", 0))
        stats["kept"] += int(done.get("kept", 0))
        stats["refused"] += int(done.get("refused", 0))
        stats["failed"] += done.get("error") is not None
    return stats
