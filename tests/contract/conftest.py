"""Fixtures for the classifier contract suite: a tiny hand-written 4-class set and fitted models per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorloop.classifiers import KINDS, make_classifier, registry
from tutorloop.data.io import read_labelled

TINY = Path(__file__).parent / "tiny.jsonl"

# Tokens the test-sized static model distils (all ~30k take minutes on two cores; these, seconds).
STATIC_VOCAB = 3000

# Small settings so every kind fits in seconds on a 2-core CPU.
FAST_PARAMS: dict[str, dict] = {
    "tfidf": {},
    "embed": {},
    "setfit": {"num_iterations": 1, "max_steps": 10, "batch_size": 8},
    "static": {"vocab_limit": STATIC_VOCAB},
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


def require_kind(kind: str) -> None:
    """Skip the calling test when ``kind``'s extra is not installed (the base install has tfidf only)."""
    for module in registry.get(kind).requires:
        pytest.importorskip(
            module, reason=f"the {kind!r} classifier needs tutorloop[{registry.get(kind).extra}]"
        )


@pytest.fixture(name="require_kind", scope="session")
def _require_kind_fixture():
    """``require_kind(kind)`` in a test: skip it when ``kind``'s extra is not installed."""
    return require_kind


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    """Every registered classifier kind; kinds whose extra is missing are skipped."""
    require_kind(request.param)
    return request.param


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


class Fitted:
    """``fitted(kind)``: a classifier of ``kind`` trained once per session on the tiny set (skipped when its
    extra is missing); ``fitted.returned[kind]`` is what its ``fit`` returned."""

    def __init__(self, data: tuple[list[str], list[str]]) -> None:
        self.data = data
        self.models: dict[str, object] = {}
        self.returned: dict[str, object] = {}

    def __call__(self, kind: str):
        require_kind(kind)
        if kind not in self.models:
            clf = make_classifier(kind, **FAST_PARAMS.get(kind, {}))
            self.returned[kind] = clf.fit(*self.data)
            self.models[kind] = clf
        return self.models[kind]


@pytest.fixture(scope="session")
def fitted(tiny, _torch_threads) -> Fitted:
    return Fitted(tiny)


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
