"""Fixtures for the classifier contract suite: a tiny hand-written 4-class set and fitted models per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorloop.classifiers import make_classifier
from tutorloop.data.io import read_labelled

TINY = Path(__file__).parent / "tiny.jsonl"

# Small settings so every kind fits in seconds on a 2-core CPU.
FAST_PARAMS: dict[str, dict] = {
    "tfidf": {},
    "embed": {},
    "setfit": {"num_iterations": 1, "max_steps": 10, "batch_size": 8},
}

# Unseen texts, two per class, for "learns a simple separable task" and save/load agreement.
HELD_OUT = [
    ("The midfielder scored a stunning goal in the match", "sports"),
    ("The team lost the game after extra time", "sports"),
    ("Expect heavy snow and freezing winds tonight", "weather"),
    ("Sunny skies with warm temperatures tomorrow", "weather"),
    ("Fry the garlic in butter and season with salt", "cooking"),
    ("Bake the cake for forty minutes", "cooking"),
    ("The laptop update fixed the wifi bug", "tech"),
    ("The app needs more memory on the new phone", "tech"),
]


@pytest.fixture(scope="session")
def held_out() -> list[tuple[str, str]]:
    return HELD_OUT


@pytest.fixture(scope="session")
def fast_params() -> dict[str, dict]:
    return FAST_PARAMS


@pytest.fixture(scope="session")
def tiny() -> tuple[list[str], list[str]]:
    return read_labelled(TINY)


@pytest.fixture(scope="session")
def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        pass


@pytest.fixture(scope="session")
def fitted(tiny, _torch_threads):
    """``fitted(kind)``: a classifier of ``kind`` trained once per session on the tiny set."""
    cache: dict[str, object] = {}

    def get(kind: str):
        if kind not in cache:
            cache[kind] = make_classifier(kind, **FAST_PARAMS[kind]).fit(*tiny)
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def saved(fitted, tmp_path_factory):
    """``saved(kind)``: the artifact directory of ``fitted(kind)``, written once per session."""
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = fitted(kind).save(
                tmp_path_factory.mktemp(kind) / "model", metrics={"accuracy": 1.0}
            )
        return cache[kind]

    return get
