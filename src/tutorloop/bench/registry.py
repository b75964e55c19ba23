"""The benchmark's method registry: each method is one small function of a :class:`Cell`.

A method reads the cell (data set, seed, split, settings, lazily built LLM and encoder) and returns a
:class:`MethodOutput` with its predictions on the evaluation set (or a subset of it); the harness scores them,
times the call and saves the cell. Register your own with :func:`register_method`:

>>> @register_method("majority", description="always the first label")
... def majority(cell):
...     return MethodOutput(predictions=[cell.dataset.labels[0]] * len(cell.eval_texts))
>>> "majority" in METHODS
True
>>> _ = METHODS.pop("majority")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .datasets import BenchDataset, Split
from .tasks import TaskSpec


@dataclass(frozen=True)
class BenchSettings:
    """Settings shared by every cell of a benchmark run.

    ``k``: real examples per class in the few-shot pool (also removed from every method's evaluation set);
    ``llm_sample``: texts the zero-shot LLM classifies (a seeded sample of the evaluation set; 0 = all);
    ``classifier``: the classifier the loop methods train; ``rounds`` / ``examples_per_label``: optional
    LoopConfig overrides (``max_rounds`` / ``examples_per_label``) for the full loop; ``throughput_texts``:
    how many texts time a classifier's inference; ``llm_spec``: the LLM's spec, recorded in results;
    ``loop_params``: further LoopConfig fields for both loop methods (e.g. ``{"time_budget_s": 900}``);
    ``encoder``: the sentence encoder of every method that embeds (similarity, the students, the loop's
    prior), ``None`` for the default all-MiniLM-L6-v2.
    """

    k: int = 8
    llm_sample: int = 200
    classifier: str = "embed"
    rounds: int | None = None
    examples_per_label: int | None = None
    throughput_texts: int = 1000
    llm_spec: str = ""
    loop_params: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None

    def relevant(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """The settings named in ``keys``, for a method's resume fingerprint. ``encoder`` is left out at the
        default, so that cells finished before the setting existed keep their fingerprints.

        >>> BenchSettings().relevant(("k", "encoder")), BenchSettings(encoder="e").relevant(("k", "encoder"))
        ({'k': 8}, {'k': 8, 'encoder': 'e'})
        """
        return {key: getattr(self, key) for key in keys if key != "encoder" or self.encoder}

    def classifier_params(self, kind: str) -> dict[str, Any]:
        """Parameters that give classifier ``kind`` the chosen encoder (none for a kind without one)."""
        from ..classifiers import params_taken

        return params_taken(kind, encoder=self.encoder)


@dataclass
class Cell:
    """One (data set, seed, method) of the grid, as a method sees it.

    ``llm`` and ``encoder`` are built on first access, so methods that need neither never load a model.
    ``done`` holds the finished records of the other methods of the same data set and seed (e.g. the
    single-pass baseline reads the full loop's token count from it).
    """

    dataset: BenchDataset
    seed: int
    method: str
    split: Split
    task: TaskSpec
    settings: BenchSettings
    run_dir: Path
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    llm_factory: Callable[[], Any] | None = None
    encoder_factory: Callable[[], Any] | None = None
    #: the loop's own phase lines inside this cell: on when the bench writes to a log, not a terminal
    progress: bool = False

    @property
    def eval_texts(self) -> list[str]:
        return [self.dataset.texts[i] for i in self.split.eval_idx]

    @property
    def eval_gold(self) -> list[str]:
        return [self.dataset.gold[i] for i in self.split.eval_idx]

    @property
    def fewshot_texts(self) -> list[str]:
        return [self.dataset.texts[i] for i in self.split.train_idx]

    @property
    def fewshot_gold(self) -> list[str]:
        return [self.dataset.gold[i] for i in self.split.train_idx]

    @property
    def llm(self) -> Any:
        if self.llm_factory is None:
            raise ConfigError(f"Method '{self.method}' needs an LLM but none was given; pass --llm SPEC.")
        return self.llm_factory()

    @property
    def encoder(self) -> Any:
        if self.encoder_factory is None:
            from ..classifiers.encoder import get_encoder

            return get_encoder(self.settings.encoder)
        return self.encoder_factory()


@dataclass
class MethodOutput:
    """What a method returns: predictions and its costs.

    ``positions``: indices into the cell's evaluation set that ``predictions`` cover (``None`` = all, in
    order); ``llm_tokens``/``llm_calls``: LLM usage; ``throughput``: inference texts per second of the thing
    that classifies (classifier or LLM); ``notes``: short facts for the table's footnotes; ``extra``: any
    JSON-able details kept in results.json.
    """

    predictions: list[str]
    positions: list[int] | None = None
    llm_tokens: int = 0
    llm_calls: int = 0
    throughput: float | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


MethodFn = Callable[[Cell], MethodOutput]


@dataclass(frozen=True)
class Method:
    """A registered method: its function, what it needs, and which settings change its results."""

    name: str
    fn: MethodFn
    description: str = ""
    needs_llm: bool = False
    needs_fewshot: bool = False
    after: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()


METHODS: dict[str, Method] = {}


def register_method(
    name: str,
    *,
    description: str = "",
    needs_llm: bool = False,
    needs_fewshot: bool = False,
    after: tuple[str, ...] = (),
    uses: tuple[str, ...] = (),
) -> Callable[[MethodFn], MethodFn]:
    """Decorator adding a method to :data:`METHODS`.

    ``after``: methods whose results this one reads (they run first within a data set and seed when
    selected); ``uses``: names of :class:`BenchSettings` fields that change its results (part of the resume
    fingerprint; the LLM spec is added automatically when ``needs_llm``).
    """

    def deco(fn: MethodFn) -> MethodFn:
        METHODS[name] = Method(
            name=name,
            fn=fn,
            description=description,
            needs_llm=needs_llm,
            needs_fewshot=needs_fewshot,
            after=after,
            uses=uses,
        )
        return fn

    return deco


def resolve_methods(names: list[str]) -> list[Method]:
    """Look up ``names`` (order kept, then dependencies first); unknown names -> ConfigError with a hint."""
    from . import baselines, pool_methods  # noqa: F401 - register the built-in methods

    unknown = [n for n in names if n not in METHODS]
    if unknown:
        import difflib

        hints = [
            f"'{u}' (did you mean '{close[0]}'?)"
            if (close := difflib.get_close_matches(u, METHODS, n=1))
            else f"'{u}'"
            for u in unknown
        ]
        raise ConfigError(f"Unknown benchmark method(s): {', '.join(hints)}. Known: {', '.join(METHODS)}.")
    if len(set(names)) != len(names):
        raise ConfigError(f"A method is listed twice in {names}; list each once.")
    chosen = [METHODS[n] for n in names]
    ordered: list[Method] = []
    for m in chosen:
        for dep in m.after:
            if dep in names and METHODS[dep] not in ordered:
                ordered.append(METHODS[dep])
        if m not in ordered:
            ordered.append(m)
    return ordered
