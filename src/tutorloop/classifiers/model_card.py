"""The model card (``README.md`` of an artifact): typed card data rendered from ``templates/model_card.md``.

>>> card = ModelCardData(kind="tfidf", created="2025-01-01T00:00:00+00:00", tutorloop_version="0.1.0",
...                      n_examples=4, data_hash="sha256:ab", label_counts={"neg": 2, "pos": 2},
...                      metrics={"accuracy": 0.75})
>>> print(card.render().split("## Metrics")[1].split("## Model")[0].strip())
| metric | value |
|---|---|
| accuracy | 0.7500 |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any

TEMPLATE = "model_card.md"


@dataclass(frozen=True)
class ModelCardData:
    """What the card shows. :meth:`from_manifest` fills it from an artifact's manifest.

    Attributes:
        kind: the classifier kind.
        created: ISO creation time.
        tutorloop_version: the tutorloop that saved the model.
        n_examples: training examples.
        data_hash: hash of the training (text, label) pairs.
        label_counts: training examples per label.
        metrics: held-out metrics; only the scalar ones are tabulated.
        provenance: where the training data came from (the manifest's ``extra``), shown as JSON.
        truncation: what the model cuts from long texts.
        params: the classifier's parameters.
    """

    kind: str
    created: str
    tutorloop_version: str
    n_examples: int
    data_hash: str
    label_counts: Mapping[str, int]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    truncation: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> ModelCardData:
        training = manifest["training"]
        return cls(
            kind=manifest["kind"],
            created=manifest["created"],
            tutorloop_version=manifest["tutorloop_version"],
            n_examples=training["n_examples"],
            data_hash=training["data_hash"],
            label_counts=training["label_counts"],
            metrics=manifest.get("metrics") or {},
            provenance=manifest.get("extra") or {},
            truncation=manifest["truncation"],
            params=manifest["params"],
        )

    def render(self) -> str:
        """The card as markdown."""
        provenance = ""
        if self.provenance:
            provenance = f"Provenance:\n\n```json\n{json.dumps(self.provenance, indent=2)}\n```\n\n"
        scalars = {k: v for k, v in self.metrics.items() if isinstance(v, int | float)}
        if scalars:
            rows = [
                f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in scalars.items()
            ]
            metrics = "\n".join(["| metric | value |", "|---|---|", *rows])
        else:
            metrics = "No held-out metrics were recorded for this model."
        return _template().substitute(
            kind=self.kind,
            created=self.created,
            tutorloop_version=self.tutorloop_version,
            n_examples=self.n_examples,
            data_hash=self.data_hash,
            label_rows="\n".join(f"| {lab} | {n} |" for lab, n in self.label_counts.items()),
            provenance=provenance,
            metrics=metrics,
            truncation=json.dumps(self.truncation),
            params=json.dumps(self.params),
        )


@cache
def _template() -> Template:
    return Template(resources.files(__package__).joinpath("templates", TEMPLATE).read_text(encoding="utf-8"))


def model_card(manifest: Mapping[str, Any]) -> str:
    """The markdown model card of a manifest."""
    return ModelCardData.from_manifest(manifest).render()
