"""Which labels a prompt lists, when a task has many.

A prompt that lists every label grows with the label set: 77 labels with descriptions are about 1,500
tokens in every call, and 1,000 labels overflow a local model's context. With ``label_shortlist`` = k (on
by default above 20 labels, see :class:`~tutorloop.loop.config.LoopConfig`), each prompt lists a
neighbourhood instead:

- a prompt about one label (sub-topics, generation, a description) lists that label and its k-1 nearest
  labels, the ones its texts must be kept apart from;
- a prompt about texts (blind verification, labelling) offers the k labels nearest each text, plus any
  label it must offer (the label a synthetic text was written for, so that verification can agree);
- a prompt about several labels (the agent's report, a judge's pairs) lists their neighbourhoods' union.

"Nearest" is cosine similarity of label anchors (the label name, with its description when it has one) in
the sentence encoder's space when the run loads it anyway (an encoder classifier, or unlabelled texts),
else in a character n-gram TF-IDF space fitted on the anchors. Without a
shortlist every function here returns ``None``: the prompt lists all labels, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .context import Context
    from .task import Task

ANCHORS_JOB = "anchors"
"""Store job whose result says whether the run uses drafted ``name: description`` anchors (see pool)."""


def label_anchors(task: Task) -> dict[str, str]:
    """Label name -> the text that stands for it in the encoder's space: its name, and its description."""
    return {
        lab.name: f"{lab.name}: {lab.description}" if lab.description else lab.name for lab in task.labels
    }


def anchor_texts(ctx: Context) -> list[str]:
    """The run's label anchors, in label order: the task's (names, with the user's descriptions), or the
    drafted ``name: description`` ones when the pool setting chose those."""
    choice = ctx.store.job_result(ANCHORS_JOB)
    if choice and choice.get("use") == "drafted":
        drafted = choice["descriptions"]
        return [f"{n}: {drafted[n]}" if n in drafted else n for n in ctx.task.label_names]
    return list(label_anchors(ctx.task).values())


@dataclass
class LabelSpace:
    """Label anchors embedded once (rows unit-length, in label order) and the function that embeds texts
    into the same space."""

    names: list[str]
    anchor_texts: list[str]
    anchors: np.ndarray
    embed: Callable[[list[str]], np.ndarray]
    k: int

    def near_label(self, label: str) -> list[str]:
        """``label`` and its k-1 nearest labels, in the task's label order.

        >>> space = LabelSpace(["a", "b", "c"], ["a", "b", "c"], np.eye(3)[[0, 1, 0]], lambda t: None, 2)
        >>> space.near_label("c")
        ['a', 'c']
        """
        i = self.names.index(label)
        sims = self.anchors @ self.anchors[i]
        sims[i] = np.inf  # the label itself first, whatever ties
        top = np.argsort(-sims, kind="stable")[: self.k]
        return [self.names[j] for j in sorted(int(j) for j in top)]

    def near_labels(self, labels: Iterable[str]) -> list[str]:
        """The union of :meth:`near_label` over ``labels``, in the task's label order."""
        wanted = {n for lab in set(labels) for n in self.near_label(lab)}
        return [n for n in self.names if n in wanted]

    def near_texts(self, texts: Sequence[str], include: Iterable[str] = ()) -> list[str]:
        """The k labels nearest each of ``texts`` (their union), with ``include``, in the task's order."""
        vecs = _unit(np.asarray(self.embed(list(texts)), dtype=np.float64))
        sims = vecs @ self.anchors.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, : self.k]
        wanted = {self.names[int(j)] for j in top.ravel()} | set(include)
        return [n for n in self.names if n in wanted]


def build_label_space(
    names: list[str], anchors: list[str], k: int, encode: Callable[[list[str]], Any] | None = None
) -> LabelSpace:
    """A :class:`LabelSpace` of ``names`` (anchor texts ``anchors``, same order) with shortlists of
    ``k``, in the space of ``encode`` (a sentence encoder), or of character n-grams when it is ``None``."""
    embed = _char_ngrams(anchors) if encode is None else (lambda texts: np.asarray(encode(texts)))
    return LabelSpace(names, anchors, _unit(np.asarray(embed(anchors))), embed, max(2, k))


def label_space(ctx: Context) -> LabelSpace | None:
    """The run's :class:`LabelSpace`, or ``None`` when prompts list every label (no shortlist). Built on
    first use and again whenever the anchors change (a description set by the agent, drafted anchors)."""
    k = ctx.config.label_shortlist
    if not k:
        return None
    texts = anchor_texts(ctx)
    space = ctx.label_space
    if space is None or space.anchor_texts != texts:
        space = ctx.label_space = build_label_space(ctx.task.label_names, texts, k, _run_encoder(ctx))
    return space


def _run_encoder(ctx: Context) -> Callable[[list[str]], Any] | None:
    """The sentence encoder when the run has it loaded already (deduplication or the pool use it)."""
    if ctx.dedup.encode is not None:
        return ctx.dedup.encode
    if ctx.pool is not None:
        from ..classifiers.encoder import get_encoder

        return get_encoder(ctx.config.encoder).encode
    return None


def shown_for_label(ctx: Context, label: str) -> list[str] | None:
    """The labels a prompt about ``label`` lists; ``None`` for all."""
    space = label_space(ctx)
    return None if space is None else space.near_label(label)


def shown_for_labels(ctx: Context, labels: Iterable[str]) -> list[str] | None:
    """The labels a prompt about several labels lists; ``None`` for all."""
    space = label_space(ctx)
    return None if space is None else space.near_labels(labels)


def shown_for_texts(ctx: Context, texts: Sequence[str], include: Iterable[str] = ()) -> list[str] | None:
    """The labels a prompt about ``texts`` offers (``include`` always among them); ``None`` for all."""
    space = label_space(ctx)
    return None if space is None else space.near_texts(texts, include)


def _char_ngrams(anchors: list[str]) -> Callable[[list[str]], np.ndarray]:
    """Texts -> their character 2-4-gram TF-IDF vectors, the vocabulary fitted on the anchors."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer: Any = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit(anchors)
    return lambda texts: vectorizer.transform(texts).toarray()


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.asarray(m / np.where(norms == 0, 1.0, norms), dtype=np.float64)
