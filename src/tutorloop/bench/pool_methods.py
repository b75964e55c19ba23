"""Methods of the unlabelled-pool setting: the data set folder's ``unlabelled.jsonl`` (texts whose labels
are never read) is the user's own in-domain texts.

- ``tutorloop-pool``: the full loop with the pool as the task's ``unlabelled`` file;
- ``pool-self-training``: no LLM at all: the encoder's nearest label name labels the pool, and the same
  student trains on the highest-margin share of each label (what the texts give for free);
- ``pool-random-distill``: the teacher labels a random sample of the pool, spending the tokens that
  ``tutorloop-pool`` spent, and the same student trains on those labels (what the LLM gives without the
  loop's choices).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .baselines import _LOOP_USES, _loop_config, _run_loop, measure_throughput
from .registry import Cell, MethodOutput, register_method

if TYPE_CHECKING:
    from ..llm.base import StructuredJob

SELF_SHARE = 0.3


def pool_texts(cell: Cell, limit: int = 5000) -> list[str]:
    """The data set's unlabelled texts (a seeded sample of ``limit`` when there are more)."""
    from ..data.io import iter_texts

    path = cell.dataset.unlabelled_file
    if not path:
        raise ConfigError(
            f"The pool methods need {cell.dataset.name}'s unlabelled.jsonl (texts without labels) in "
            f"{cell.dataset.source}; that folder has none."
        )
    texts = [t for batch in iter_texts(path, "text") for t in batch]
    if len(texts) > limit:
        texts = random.Random(f"{cell.seed}:pool").sample(texts, limit)
    return texts


def _student(cell: Cell, texts: list[str], labels: list[str]) -> tuple[list[str], float]:
    """Train the loop's student kind on ``texts``/``labels``; its predictions on the evaluation set and
    its throughput (in memory)."""
    from ..classifiers import make_classifier

    kind = cell.settings.classifier
    model = make_classifier(kind, **cell.settings.classifier_params(kind)).fit(texts, labels)
    preds = [str(p) for p in model.predict(cell.eval_texts)]
    tput = measure_throughput(model.predict, cell.eval_texts, cell.settings.throughput_texts)
    return preds, tput


@register_method(
    "tutorloop-pool",
    needs_llm=True,
    uses=_LOOP_USES,
    description="the full loop with the data set's unlabelled texts as the user's pool",
)
def tutorloop_pool(cell: Cell) -> MethodOutput:
    from ..loop.task import DataFile

    pool_texts(cell)  # a clear error before any LLM call when the folder has no pool
    path = str(cell.dataset.unlabelled_file)
    _, out = _run_loop(cell, _loop_config(cell), unlabelled=DataFile(path))
    return out


@register_method(
    "pool-self-training",
    uses=("classifier", "encoder"),
    description="no LLM: nearest-label-name pseudo-labels on the pool, the 30% highest-margin per label, "
    "the same student",
)
def pool_self_training(cell: Cell) -> MethodOutput:
    from ..loop.pool_select import confident_per_label, prior_labels

    texts = pool_texts(cell)
    encode = cell.encoder.encode
    labels = list(cell.dataset.labels)
    prior, margin = prior_labels(encode(texts), encode(labels))
    chosen = confident_per_label(prior, margin, SELF_SHARE)
    preds, tput = _student(cell, [texts[i] for i in chosen], [labels[int(prior[i])] for i in chosen])
    extra = {"n_train": len(chosen), "pool": len(texts), "share": SELF_SHARE}
    return MethodOutput(predictions=preds, throughput=tput, extra=extra)


@register_method(
    "pool-random-distill",
    needs_llm=True,
    after=("tutorloop-pool",),
    uses=("classifier", "k", "encoder"),
    description="the teacher labels a random pool sample with tutorloop-pool's tokens; the same student",
)
def pool_random_distill(cell: Cell) -> MethodOutput:
    from ..llm.ledger import Ledger
    from ..loop.context import UI

    full = cell.done.get("tutorloop-pool") or {}
    budget = int(full.get("llm_tokens") or 0)
    if full.get("status") != "ok" or budget <= 0:
        raise ConfigError("pool-random-distill spends tutorloop-pool's tokens: run tutorloop-pool first.")
    texts = pool_texts(cell)
    ledger = Ledger()
    llm = cell.llm.recording_to(ledger)
    step = max(1, llm.max_concurrency)
    jobs = _random_label_jobs(cell, texts, step)
    got_texts: list[str] = []
    got_labels: list[str] = []
    total, shown = -(-budget // 1000), 0  # progress in thousands of tokens: the budget is in tokens
    what = "Teacher labelling random pool texts (k tokens)"
    with UI(cell.progress).phase(what, total) as advance:
        while ledger.summary()["work_tokens"] < budget:
            group = list(itertools.islice(jobs, step))
            if not group:
                break
            for (batch, _), reply in zip(group, llm.structured_many([job for _, job in group]), strict=True):
                if not isinstance(reply, Exception):
                    got_texts += [texts[i] for i in batch]
                    got_labels += list(reply.labels)
            spent = int(ledger.summary()["work_tokens"])
            now = total if spent >= budget else min(total, spent // 1000)
            advance(now - shown)
            shown = now
    if len(set(got_labels)) < 2:
        raise ConfigError(f"The teacher gave fewer than two labels to {len(got_labels)} pool texts.")
    preds, tput = _student(cell, got_texts, got_labels)
    usage = ledger.summary()
    extra: dict[str, Any] = {
        "n_train": len(got_texts),
        "token_budget": budget,
        "labels_seen": int(np.unique(got_labels).size),
    }
    return MethodOutput(
        predictions=preds,
        llm_tokens=int(usage["work_tokens"]),
        llm_calls=int(usage["calls"]),
        throughput=tput,
        extra=extra,
    )


def _random_label_jobs(cell: Cell, texts: list[str], slots: int) -> Iterator[tuple[list[int], StructuredJob]]:
    """Batches of pool texts in a seeded random order, each with the job that labels it as the loop
    labels pool texts (its batch size; with many labels, windows of ``slots`` × 8 batches grouped by
    nearest label, and each batch's label shortlist). Lazy: the caller stops once its tokens are spent."""
    from ..loop.config import LoopConfig
    from ..loop.llm_tasks import LABEL
    from .baselines import _loop_task

    order = list(range(len(texts)))
    random.Random(f"{cell.seed}:distill").shuffle(order)
    task = _loop_task(cell)
    labels = list(cell.dataset.labels)
    defaults = LoopConfig().resolved(len(labels))
    batch, k = defaults.verify_batch or 1, defaults.label_shortlist or 0
    if not k:
        for j in range(0, len(order), batch):
            chosen = order[j : j + batch]
            yield chosen, LABEL.job(task, [texts[i] for i in chosen], "label-pool")
        return
    from ..loop.pool_select import shortlists

    sims = cell.encoder.encode(texts) @ cell.encoder.encode(labels).T
    prior = sims.argmax(axis=1)
    window_size = slots * batch * 8
    for pos in range(0, len(order), window_size):  # random texts, batched by nearest label as the loop does
        window = sorted(order[pos : pos + window_size], key=lambda i: int(prior[i]))
        chunk = [window[j : j + batch] for j in range(0, len(window), batch)]
        for chosen, cands in zip(chunk, shortlists(sims, chunk, k), strict=True):
            candidates = [labels[c] for c in cands]
            yield chosen, LABEL.job(task, [texts[i] for i in chosen], "label-pool", candidates=candidates)
