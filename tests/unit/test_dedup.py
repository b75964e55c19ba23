"""Exact and near-duplicate removal."""

from __future__ import annotations

import numpy as np

from tutorloop.data.dedup import Deduper, normalize


def test_exact_duplicates_ignore_case_punctuation_space() -> None:
    d = Deduper()
    assert d.add(["Great film!", "great   film", "Bad film."]) == [True, False, True]
    assert normalize("A, b!") == "a b"


def test_minhash_finds_near_duplicates_but_keeps_different_texts() -> None:
    d = Deduper(threshold=0.7)
    base = "The camera work in the final scene was stunning and the score carried every moment of it"
    assert d.add([base]) == [True]
    assert d.add([base + " too"]) == [False]
    assert d.add(["A tedious plot with wooden acting and a predictable twist"]) == [True]


def test_encoder_similarity_is_used_when_given() -> None:
    vecs = {"a": [1.0, 0.0], "a2": [0.99, 0.141], "b": [0.0, 1.0]}

    def encode(texts: list[str]) -> np.ndarray:
        v = np.array([vecs[t] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    d = Deduper(threshold=0.95, encode=encode)
    assert d.method == "embed"
    assert d.add(["a", "a2", "b"]) == [True, False, True]


def test_seeded_texts_count_as_seen() -> None:
    d = Deduper()
    d.seed(["already kept text here"])
    assert d.add(["Already kept text here."]) == [False]
