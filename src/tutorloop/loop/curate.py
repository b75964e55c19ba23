"""Curation: the LLM proposes sub-topics per label and writes examples under varied attribute
combinations; duplicates are removed; a blind verification pass drops disputed examples.

Every LLM call is a *job* with a deterministic key. A job's examples and its key are stored in one
transaction, so a resumed run skips finished jobs (and the LLM cache makes any repeat free).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data.store import NewExample
from ..errors import DataError, LLMOutputError
from ..llm.base import StructuredJob
from ..prompts import TopicsReply, as_data, labels_block, labels_reply, render, texts_reply
from .context import Context

LENGTHS = ("one short sentence", "one or two sentences", "three or four sentences")
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
NOISE = "Noise: make some texts informal, with a typo or two."
# Validation texts are asked to be less obvious than training texts: a synthetic validation set that the
# first classifier already gets entirely right cannot show what refinement fixes.
VAL_HARDNESS = "; indirect and realistic, avoiding the label's name and its most obvious keywords"
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|sorry,? but|i can(?:no|')t|i cannot|i am unable|i'm unable|as an ai)", re.IGNORECASE
)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")


@dataclass
class GenJob:
    """One generation call: ``n`` texts for ``label`` under one attribute combination."""

    key: str
    label: str
    split: str
    origin: str
    round: int
    n: int
    attributes: dict[str, Any]
    sample_index: int
    guidance: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def labels_text(ctx: Context) -> str:
    return labels_block([(lab.name, lab.description) for lab in ctx.task.labels])


def label_job(ctx: Context, names: tuple[str, ...], texts: Sequence[str], purpose: str) -> StructuredJob:
    """One blind-labelling request: the LLM labels ``texts`` (quoted as JSON data) without any hint."""
    r = render("verify", task=ctx.task.description, labels=labels_text(ctx), n=len(texts),
               texts=as_data(list(texts)))
    return StructuredJob(r.messages, labels_reply(names, len(texts)), temperature=0.0,
                         max_tokens=16 * len(texts) + 30, purpose=purpose)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- sub-topics -----------------------------------------------------------------------------------------
def propose_topics(ctx: Context) -> dict[str, dict[str, list[str]]]:
    """Per label, sub-topics split into disjoint ``train`` and ``val`` lists (asked once, then stored)."""
    cfg = ctx.config
    n = cfg.topics_per_label or 6
    labels = ctx.task.label_names
    todo = [lab for lab in labels if ctx.store.job_result(f"topics:{lab}") is None]
    jobs = [
        StructuredJob(
            render("topics", task=ctx.task.description, labels=labels_text(ctx), n=n, label=lab).messages,
            TopicsReply,
            temperature=0.7,
            max_tokens=24 * n + 40,
            purpose="topics",
        )
        for lab in todo
    ]
    _run_jobs(
        ctx,
        jobs,
        todo,
        "Proposing sub-topics",
        lambda lab, reply: ctx.store.finish_job(f"topics:{lab}", _clean_topics(reply, n)),
    )
    out = {}
    for lab in labels:
        topics = ctx.store.job_result(f"topics:{lab}") or []
        if len(topics) < 2:
            topics = topics + [
                t
                for t in ("a typical case", "an unusual case", "a borderline case", "a short everyday case")
                if t not in topics
            ]
        n_val = max(1, round(len(topics) / 3))
        out[lab] = {"train": topics[:-n_val], "val": topics[-n_val:]}
    return out


def _clean_topics(reply: Any, n: int) -> list[str]:
    if isinstance(reply, LLMOutputError):
        return []
    seen, topics = set(), []
    for t in reply.topics:
        t = " ".join(t.split()).strip(" .-")[:80]
        if t and t.lower() not in seen:
            seen.add(t.lower())
            topics.append(t)
    return topics[:n]


# -- generation -------------------------------------------------------------------------------------------
def curation_jobs(
    ctx: Context,
    topics: dict[str, dict[str, list[str]]],
    *,
    split: str,
    per_label: int | dict,
    round_: int = 0,
    start: int = 0,
    tag: str = "",
) -> list[GenJob]:
    """Jobs that write ``per_label`` examples per label, interleaved across labels (so that a budget that
    runs out mid-phase leaves every label with some examples)."""
    epc = ctx.config.examples_per_call
    origin = "curated" if split == "train" else "validation"
    by_label = []
    for lab in ctx.task.label_names:
        want = per_label.get(lab, 0) if isinstance(per_label, dict) else per_label
        rng = random.Random(f"{ctx.config.seed}:{split}:{lab}")
        styles = list(STYLES)
        rng.shuffle(styles)
        subs = topics[lab][split] or topics[lab]["train"]
        jobs, c = [], 0
        while want > 0:
            i = start + c
            n = min(epc, want)
            attrs = {
                "topic": subs[i % len(subs)],
                "length": LENGTHS[(i + rng.randrange(3)) % 3],
                "style": styles[i % len(styles)] + (VAL_HARDNESS if split == "val" else ""),
                "noise": i % 4 == 3,
            }
            jobs.append(
                GenJob(
                    f"gen:{split}{tag}:{round_}:{lab}:{i}",
                    lab,
                    split,
                    origin,
                    round_,
                    n,
                    attrs,
                    sample_index=i,
                )
            )
            want -= n
            c += 1
        by_label.append(jobs)
    return [j for group in _interleave(by_label) for j in group]


def _interleave(groups: list[list[GenJob]]) -> list[list[GenJob]]:
    longest = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(longest)]


def _gen_messages(ctx: Context, job: GenJob) -> Any:
    a = job.attributes
    samples = ""
    if ctx.unlabelled:
        rng = random.Random(f"{job.key}:samples")
        picks = rng.sample(ctx.unlabelled, min(2, len(ctx.unlabelled)))
        samples = f"\nReal texts from this domain, for style only (JSON data): {as_data(picks)}"
    guidance = f"Guidance: {job.guidance}\n" if job.guidance else ""
    return render(
        "generate",
        task=ctx.task.description,
        labels=labels_text(ctx),
        n=job.n,
        label=job.label,
        topic=a.get("topic", "any"),
        length=a.get("length", LENGTHS[1]),
        style=a.get("style", "natural"),
        noise=(NOISE + "\n") if a.get("noise") else "",
        guidance=guidance,
        samples=samples,
    )


def run_generation(ctx: Context, jobs: list[GenJob], description: str) -> dict[str, int]:
    """Run the jobs not finished yet; store their (deduplicated) texts. Returns counts of kept/raw/failed."""
    todo = [j for j in jobs if ctx.store.job_result(j.key) is None]
    stats = {"raw": 0, "kept": 0, "failed": 0, "refused": 0}
    names = {n.lower() for n in ctx.task.label_names}
    rendered = {j.key: _gen_messages(ctx, j) for j in todo}
    structured = [
        StructuredJob(
            rendered[j.key].messages,
            texts_reply(j.n),
            temperature=ctx.config.temperature,
            max_tokens=min(2048, 90 * j.n + 60),
            sample_index=j.sample_index,
            purpose=f"generate:{j.origin}",
        )
        for j in todo
    ]

    def store(job: GenJob, reply: Any) -> None:
        texts, refused, error = _clean_texts(reply, job, names)
        keep = ctx.dedup.add(texts)
        status = "pending" if ctx.config.verify else "active"
        rows = [
            NewExample(
                t,
                job.label,
                job.split,
                job.origin,
                job.round,
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
        stats["raw"] += result["raw"]
        stats["kept"] += len(rows)
        stats["refused"] += refused
        stats["failed"] += error is not None

    _run_jobs(ctx, structured, todo, description, store)
    return stats


def _clean_texts(reply: Any, job: GenJob, names: set[str]) -> tuple[list[str], int, str | None]:
    if isinstance(reply, LLMOutputError):
        return [], 0, str(reply)[:300]
    texts, refused = [], 0
    for t in reply.texts[: max(job.n * 2, job.n + 2)]:
        t = _NUMBERING.sub("", t).strip().strip('"').strip()[:1000]
        if len(t) < 3 or t.lower().strip(" .!") in names:  # a bare label name teaches nothing
            continue
        if _REFUSAL.search(t):
            refused += 1
            continue
        texts.append(t)
    return texts, refused, None


def _run_jobs(
    ctx: Context, jobs: list[StructuredJob], items: list[Any], description: str, handle: Any
) -> None:
    """Run ``jobs`` in chunks of the LLM's concurrency, checking the budget before each chunk, and call
    ``handle(item, reply)`` for each in order."""
    size = max(1, ctx.llm.max_concurrency)
    with ctx.ui.phase(description, len(jobs)) as advance:
        for start in range(0, len(jobs), size):
            ctx.budget.check()
            replies = ctx.llm.structured_many(jobs[start : start + size], on_done=advance)
            for item, reply in zip(items[start : start + size], replies, strict=True):
                handle(item, reply)


# -- blind verification -------------------------------------------------------------------------------------
def verify_pending(ctx: Context, round_: int, description: str = "Verifying examples") -> dict[str, int]:
    """Blindly label every pending example; matching ones become active, disputed ones are dropped."""
    pending = ctx.store.examples(status="pending")
    pending.sort(key=lambda e: hashlib.sha1(str(e["id"]).encode()).hexdigest())  # mix labels in a batch
    names = tuple(ctx.task.label_names)
    batches = _chunks(pending, ctx.config.verify_batch or 4)
    jobs = [label_job(ctx, names, [e["text"] for e in batch], "verify") for batch in batches]
    stats = {"verified": 0, "disputed": 0, "failed": 0}

    def store(batch: Sequence[dict], reply: Any) -> None:
        verdicts = {}
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
        ctx.store.set_verdicts(verdicts, job=key, result=len(batch), round_=round_)

    _run_jobs(ctx, jobs, list(batches), description, store)
    return stats


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


def balance(ctx: Context, target: int) -> int:
    """Drop the newest surplus curated training examples above ``target`` per label; returns how many."""
    dropped = 0
    for lab in ctx.task.label_names:
        rows = [e for e in ctx.store.examples(split="train", label=lab) if e["origin"] == "curated"]
        surplus = rows[target:]
        if surplus:
            dropped += ctx.store.drop(
                [e["id"] for e in surplus], reason="balance: above the per-label target", round_=0
            )
    return dropped


# -- user data ---------------------------------------------------------------------------------------------
def store_seeds(ctx: Context) -> None:
    """The task file's seed examples, once (trusted: not verified)."""
    if ctx.store.job_result("seed") is not None:
        return
    rows = []
    for lab in ctx.task.labels:
        for text in lab.examples:
            if ctx.dedup.add([text])[0]:
                rows.append(NewExample(text, lab.name, "train", "seed", 0, {}))
    ctx.store.add_examples(rows, job="seed", result=len(rows))


def store_dev(ctx: Context) -> int:
    """The user's labelled dev set as validation data, once. Unknown labels are an error."""
    from ..data.io import read_labelled

    if ctx.task.dev is None:
        return 0
    if ctx.store.job_result("dev") is not None:
        return int(ctx.store.job_result("dev"))
    f = ctx.task.dev
    texts, labels = read_labelled(f.path, f.text_column, f.label_column)
    unknown = sorted(set(labels) - set(ctx.task.label_names))
    if unknown:
        raise DataError(
            f"The dev set {f.path} uses labels that are not in the task: {unknown[:10]}. "
            f"Task labels: {ctx.task.label_names}."
        )
    rows = [
        NewExample(t, lab, "val", "user", 0, {"source": "dev"}) for t, lab in zip(texts, labels, strict=True)
    ]
    ctx.dedup.seed(texts)
    ctx.store.add_examples(rows, job="dev", result=len(rows))
    return len(rows)


def label_unlabelled(ctx: Context, n: int) -> None:
    """Validation from the user's unlabelled texts: a sample labelled blind by the LLM."""
    rng = random.Random(f"{ctx.config.seed}:unlabelled-val")
    sample = rng.sample(ctx.unlabelled, min(n, len(ctx.unlabelled)))
    names = tuple(ctx.task.label_names)
    batches = [list(b) for b in _chunks(sample, ctx.config.verify_batch or 4)]
    keys = [f"val-unlabelled:{i}" for i in range(len(batches))]
    todo = [(k, b) for k, b in zip(keys, batches, strict=True) if ctx.store.job_result(k) is None]
    jobs = [label_job(ctx, names, batch, "label-unlabelled") for _, batch in todo]

    def store(item: tuple[str, list[str]], reply: Any) -> None:
        key, batch = item
        rows = (
            []
            if isinstance(reply, LLMOutputError)
            else [
                NewExample(
                    t, lab, "val", "validation", 0, {"source": "unlabelled"}, verdict=lab, model=ctx.llm.model
                )
                for t, lab in zip(batch, reply.labels, strict=True)
            ]
        )
        ctx.dedup.seed([r.text for r in rows])
        ctx.store.add_examples(rows, job=key, result=len(rows))

    _run_jobs(ctx, jobs, todo, "Labelling unlabelled texts for validation", store)


def topup_targets(ctx: Context, target: int, split: str = "train") -> dict[str, int]:
    """Per label, how many more examples reach ``target`` (only for labels below 70% of it)."""
    counts = ctx.store.counts(split)
    return {
        lab: target - counts.get(lab, 0)
        for lab in ctx.task.label_names
        if counts.get(lab, 0) < math.ceil(0.7 * target)
    }
