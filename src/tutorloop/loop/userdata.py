"""The user's data: seed examples from the task file, a labelled dev set, and unlabelled domain texts
(read as a uniform sample; a sample of them labelled blind by the LLM when there is no dev set)."""

from __future__ import annotations

import random
from typing import Any

from ..data.store import NewExample
from ..errors import DataError, LLMOutputError
from .context import Context
from .label_space import shown_for_texts
from .llm_tasks import LABEL, chunks, run_jobs
from .pool import label_jobs
from .task import Task

MAX_UNLABELLED_CHARS = 2000
"""Unlabelled texts longer than this are cut to their first ``MAX_UNLABELLED_CHARS`` characters (with a
warning): they go into LLM prompts, and one huge text would overflow a small model's context window (4,096
tokens for the local backend) or cost a paid API a fortune; the classifiers cut long texts anyway."""


def check_user_files(task: Task) -> None:
    """Read the task's dev set (whole: it is small) and the start of its unlabelled file, so that a bad
    file fails before the run folder is touched or any LLM call is made; raises :class:`DataError`."""
    from ..data.io import iter_texts

    if task.dev is not None:
        read_dev(task)
    f = task.unlabelled
    if f is not None and next(iter_texts(f.path, f.text_column, batch_size=64), None) is None:
        raise _no_unlabelled(f.path)


def read_dev(task: Task) -> tuple[list[str], list[str]]:
    """The dev set's texts and labels; a label the task does not have is a :class:`DataError`."""
    from ..data.io import read_labelled

    f = task.dev
    assert f is not None
    texts, labels = read_labelled(f.path, f.text_column, f.label_column)
    unknown = sorted(set(labels) - set(task.label_names))
    if unknown:
        shown = [lab[:60] for lab in unknown[:10]] + (["..."] if len(unknown) > 10 else [])
        names = task.label_names
        task_names = [n[:60] for n in names[:20]]
        if len(names) > 20:
            task_names.append(f"... ({len(names)} in all)")
        raise DataError(
            f"The dev set {f.path} uses labels that are not in the task: {shown}. Task labels: {task_names}. "
            "Fix the dev set's labels or add the labels to the task file."
        )
    return texts, labels


def _no_unlabelled(path: str) -> DataError:
    return DataError(
        f"The unlabelled file {path} has no texts. Remove 'unlabelled' from the task file or "
        "give a file with one text per line (or a text column)."
    )


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
    if ctx.task.dev is None:
        return 0
    if ctx.store.job_result("dev") is not None:
        return int(ctx.store.job_result("dev"))
    texts, labels = read_dev(ctx.task)
    rows = [
        NewExample(t, lab, "val", "user", 0, {"source": "dev"}) for t, lab in zip(texts, labels, strict=True)
    ]
    ctx.dedup.seed(texts)
    ctx.store.add_examples(rows, job="dev", result=len(rows))
    return len(rows)


def read_unlabelled(ctx: Context) -> list[str]:
    """A uniform sample (reservoir) of at most ``max_unlabelled`` texts, each cut to
    :data:`MAX_UNLABELLED_CHARS`; empty files are an error."""
    from ..data.io import iter_texts

    f = ctx.task.unlabelled
    assert f is not None
    cap = ctx.config.max_unlabelled
    rng = random.Random(f"{ctx.config.seed}:unlabelled")
    sample: list[str] = []
    total = cut = 0
    for batch in iter_texts(f.path, f.text_column):
        for text in batch:
            total += 1
            if len(text) > MAX_UNLABELLED_CHARS:
                text = text[:MAX_UNLABELLED_CHARS]
                cut += 1
            if len(sample) < cap:
                sample.append(text)
            else:
                j = rng.randrange(total)
                if j < cap:
                    sample[j] = text
    if total == 0:
        raise _no_unlabelled(f.path)
    if cut:
        ctx.warn(
            f"{cut:,} text(s) of the unlabelled file are longer than {MAX_UNLABELLED_CHARS:,} characters; "
            f"only their first {MAX_UNLABELLED_CHARS:,} characters are used (they go into LLM prompts)."
        )
    if total > cap:
        ctx.warn(
            f"The unlabelled file has {total:,} texts; using a uniform sample of {cap:,} (max_unlabelled)."
        )
    return sample


def label_unlabelled(ctx: Context, n: int) -> None:
    """Validation from the user's unlabelled texts: a sample labelled blind by the LLM."""
    rng = random.Random(f"{ctx.config.seed}:unlabelled-val")
    sample = rng.sample(ctx.unlabelled, min(n, len(ctx.unlabelled)))
    pool = ctx.pool
    if pool is not None and ctx.config.label_shortlist:  # batches that share their nearest label
        sample.sort(key=lambda t: int(pool.prior[pool.index[t]]))
    batches = [list(b) for b in chunks(sample, ctx.config.verify_batch or 1)]
    keys = [f"val-unlabelled:{i}" for i in range(len(batches))]
    todo = [(k, b) for k, b in zip(keys, batches, strict=True) if ctx.store.job_result(k) is None]
    if pool is not None:
        jobs = label_jobs(ctx, pool, [[pool.index[t] for t in b] for _, b in todo], "label-unlabelled")
    else:
        jobs = [LABEL.job(ctx.task, b, "label-unlabelled", shown_for_texts(ctx, b)) for _, b in todo]

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

    run_jobs(ctx, jobs, todo, "Labelling unlabelled texts for validation", store)
