"""Choosing texts from the user's unlabelled pool: pure numpy on embeddings, no LLM, no store.

- :func:`prior_labels`: each pool text's most similar label anchor and its margin over the runner-up
  (the zero-shot prior).
- :func:`diverse_stratified`: a sample spread over labels (stratified by a labelling) and, within each
  label, over the embedding space (farthest-point traversal), for the teacher to label.
- :func:`typical`: one representative text per k-means cluster of the embeddings (k = texts wanted).
- :func:`confident_per_label`: the highest-margin share of each label's texts (self-training labels).
- :func:`shortlists`: per batch of texts, the labels most similar to any of them (what the teacher
  chooses among when a task has many labels).
- :func:`uncertain`: texts where the student and the prior disagree, or the student's margin is lowest
  (where a teacher label is worth the most).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np


def prior_labels(embeddings: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(label index, margin)`` per row: the most similar anchor and its cosine lead over the second.

    >>> x = np.array([[1.0, 0.0], [0.6, 0.8]]); a = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> idx, margin = prior_labels(x, a)
    >>> idx.tolist(), [round(float(m), 2) for m in margin]
    ([0, 1], [1.0, 0.2])
    """
    sims = np.asarray(embeddings, dtype=np.float64) @ np.asarray(anchors, dtype=np.float64).T
    if sims.shape[1] == 1:
        return np.zeros(len(sims), dtype=np.int64), sims[:, 0]
    top2 = np.sort(sims, axis=1)[:, -2:]
    return sims.argmax(axis=1), top2[:, 1] - top2[:, 0]


def margins(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row."""
    p = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    return p[:, -1] - (p[:, -2] if p.shape[1] > 1 else 0.0)


def _farthest(embeddings: np.ndarray, idx: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    if len(idx) <= k:
        return [int(i) for i in idx]
    x = embeddings[idx]
    first = int(rng.integers(len(idx)))
    chosen = [first]
    dist = 1.0 - x @ x[first]
    for _ in range(k - 1):
        j = int(dist.argmax())
        chosen.append(j)
        dist = np.minimum(dist, 1.0 - x @ x[j])
    return [int(idx[j]) for j in chosen]


def diverse_stratified(
    embeddings: np.ndarray,
    strata: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    exclude: Collection[int] = (),
) -> list[int]:
    """About ``n`` row indices: an equal share per stratum (left-over shares go to the larger strata),
    spread within each stratum by farthest-point traversal. Rows in ``exclude`` are never chosen.

    >>> x = np.eye(4); s = np.array([0, 0, 1, 1])
    >>> sorted(int(s[i]) for i in diverse_stratified(x, s, 2))   # one per stratum
    [0, 1]
    """
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(strata), dtype=bool)
    allowed[list(exclude)] = False
    groups = {int(c): np.where((strata == c) & allowed)[0] for c in np.unique(strata)}
    groups = {c: g for c, g in groups.items() if len(g)}
    quota = {c: 0 for c in groups}
    left = n
    while left > 0 and any(quota[c] < len(g) for c, g in groups.items()):
        open_ = [c for c, g in groups.items() if quota[c] < len(g)]
        share = max(1, left // len(open_))
        for c in sorted(open_, key=lambda c: -len(groups[c])):
            add = min(share, len(groups[c]) - quota[c], left)
            quota[c] += add
            left -= add
            if left <= 0:
                break
    out: list[int] = []
    for c, g in groups.items():
        out += _farthest(embeddings, g, quota[c], rng)
    return out


def typical(embeddings: np.ndarray, n: int, *, seed: int = 0, exclude: Collection[int] = ()) -> list[int]:
    """About ``n`` row indices of representative texts: k-means with ``n`` clusters on the allowed rows,
    and in each cluster the row nearest its centre. With a small labelling budget, typical texts teach a
    classifier more than outlying ones (farthest-point traversal's picks) or uncertain ones. Rows in
    ``exclude`` are never chosen.

    >>> x = np.array([[0.0, 0.0], [0.2, 0.0], [0.1, 0.0], [5.0, 5.0], [5.2, 5.0], [5.1, 5.0]])
    >>> sorted(typical(x, 2))   # the middle point of each group
    [2, 5]
    >>> len(typical(x, 2, exclude=[2, 5])), set(typical(x, 2, exclude=[2, 5])) & {2, 5}
    (2, set())
    """
    from sklearn.cluster import KMeans

    allowed = np.setdiff1d(np.arange(len(embeddings)), np.fromiter(exclude, dtype=np.int64))
    if n <= 0 or not len(allowed):
        return []
    if len(allowed) <= n:
        return [int(i) for i in allowed]
    x = np.asarray(embeddings, dtype=np.float64)[allowed]
    km = KMeans(n_clusters=n, n_init=1, random_state=seed).fit(x)
    dist = np.linalg.norm(x - km.cluster_centers_[km.labels_], axis=1)
    out = []
    for c in range(n):
        members = np.where(km.labels_ == c)[0]
        if len(members):
            out.append(int(allowed[members[np.argmin(dist[members])]]))
    return out


def confident_per_label(labels: np.ndarray, margin: np.ndarray, share: float) -> np.ndarray:
    """Indices of the ``share`` highest-margin rows of each label (at least one per label present).

    >>> confident_per_label(np.array([0, 0, 0, 1]), np.array([0.1, 0.3, 0.2, 0.05]), 0.34).tolist()
    [1, 3]
    """
    out = []
    for c in np.unique(labels):
        idx = np.where(labels == c)[0]
        k = max(1, int(share * len(idx)))
        out.append(idx[np.argsort(-margin[idx], kind="stable")[:k]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def uncertain(
    student_proba: np.ndarray, prior: np.ndarray, n: int, *, exclude: Collection[int] = ()
) -> list[int]:
    """``n`` rows where a teacher label helps most: first those where the student's label differs from the
    prior's, then the lowest student margins; each group ordered by student margin, lowest first.

    >>> p = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.6, 0.4]])
    >>> uncertain(p, np.array([0, 0, 0, 0]), 2)
    [2, 1]
    """
    m = margins(student_proba)
    disagree = student_proba.argmax(axis=1) != prior
    order = np.lexsort((m, ~disagree))  # disagreements first, then by margin
    skip = set(int(i) for i in exclude)
    return [int(i) for i in order if int(i) not in skip][:n]


def shortlists(sims: np.ndarray, batches: list[list[int]], k: int) -> list[list[int]]:
    """For each batch of row indices, the union of each row's ``k`` most similar labels (column indices of
    ``sims``, rows × labels), in label order; at least two labels.

    >>> s = np.array([[0.9, 0.1, 0.5, 0.0], [0.0, 0.2, 0.1, 0.8]])
    >>> shortlists(s, [[0], [0, 1]], 2)
    [[0, 2], [0, 1, 2, 3]]
    """
    k = max(2, min(k, sims.shape[1]))
    out = []
    for batch in batches:
        top = np.argsort(-sims[batch], axis=1, kind="stable")[:, :k]
        out.append(sorted({int(j) for j in top.ravel()}))
    return out
