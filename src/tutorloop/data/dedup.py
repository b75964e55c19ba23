"""Exact and near-duplicate removal for curated texts.

Near duplicates are found with a sentence encoder when one is given (cosine similarity of
L2-normalised embeddings), otherwise with MinHash over character 4-grams (estimated Jaccard). The
encoder is passed in as a function so that this module needs neither torch nor the classifiers layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

Encode = Callable[[list[str]], np.ndarray]

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """The form used for exact-duplicate checks: lower case, no punctuation, single spaces.

    >>> normalize("  Great   film!! ")
    'great film'
    """
    return _SPACE.sub(" ", _PUNCT.sub("", text.lower())).strip()


class Deduper:
    """Remembers the texts seen so far and says which new texts are neither exact nor near duplicates.

    >>> d = Deduper(threshold=0.9)
    >>> d.add(["The film was a delight from start to finish."])
    [True]
    >>> d.add(["the film was a delight from start to finish", "Dull and far too long."])
    [False, True]
    """

    def __init__(self, threshold: float = 0.92, encode: Encode | None = None, num_perm: int = 64):
        self.threshold = float(threshold)
        self.encode = encode
        self.num_perm = num_perm
        self._exact: set[str] = set()
        self._vectors: list[np.ndarray] = []
        self._lsh = None
        self._n = 0

    @property
    def method(self) -> str:
        return "embed" if self.encode is not None else "minhash"

    def add(self, texts: Sequence[str]) -> list[bool]:
        """Check ``texts`` in order against everything seen (including earlier items of ``texts``).

        Returns one flag per text: ``True`` = kept (and remembered), ``False`` = duplicate.
        """
        texts = list(texts)
        if not texts:
            return []
        vectors = self._embed(texts)
        keep = []
        for i, text in enumerate(texts):
            key = normalize(text)
            if not key or key in self._exact or self._is_near(i, text, vectors):
                keep.append(False)
                continue
            self._remember(i, text, key, vectors)
            keep.append(True)
        return keep

    def seed(self, texts: Sequence[str]) -> None:
        """Remember ``texts`` without checking them (e.g. what an earlier, resumed run already kept)."""
        texts = list(texts)
        if not texts:
            return
        vectors = self._embed(texts)
        for i, text in enumerate(texts):
            self._remember(i, text, normalize(text), vectors)

    # -- internals --------------------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> np.ndarray | None:
        if self.encode is None:
            return None
        return np.asarray(self.encode(texts), dtype=np.float32)

    def _is_near(self, i: int, text: str, vectors: np.ndarray | None) -> bool:
        if vectors is not None:
            if not self._vectors:
                return False
            sims = np.stack(self._vectors) @ vectors[i]
            return bool(sims.max() >= self.threshold)
        lsh = self._get_lsh()
        return bool(lsh.query(self._minhash(text)))

    def _remember(self, i: int, text: str, key: str, vectors: np.ndarray | None) -> None:
        self._exact.add(key)
        if vectors is not None:
            self._vectors.append(vectors[i])
        else:
            self._get_lsh().insert(f"t{self._n}", self._minhash(text))
        self._n += 1

    def _get_lsh(self):  # noqa: ANN202 - datasketch has no type hints
        if self._lsh is None:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        return self._lsh

    def _minhash(self, text: str):  # noqa: ANN202
        from datasketch import MinHash

        key = normalize(text)
        grams = {key[j : j + 4] for j in range(max(1, len(key) - 3))}
        m = MinHash(num_perm=self.num_perm, seed=1)
        for g in grams:
            m.update(g.encode("utf-8"))
        return m
