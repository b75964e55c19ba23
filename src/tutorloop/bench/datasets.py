"""Benchmark data sets: loading, validation and the seeded k-shot split.

A data set is either a local folder holding ``test.jsonl`` (one ``{"text": ..., "label": ...}`` object per
line) and ``labels.json`` (the ordered label names), optionally ``unlabelled.jsonl`` (``{"text": ...}`` lines:
the pool setting's in-domain texts, whose labels are never read), or a Hugging Face hub name loaded through
``datasets``.
Everything is validated here, before any LLM call is made.

>>> import json, pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp()) / "toy"
>>> d.mkdir()
>>> _ = (d / "labels.json").write_text(json.dumps(["neg", "pos"]))
>>> rows = [{"text": f"t{i}", "label": ["neg", "pos"][i % 2]} for i in range(6)]
>>> _ = (d / "test.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
>>> ds = load_dataset(str(d))
>>> ds.name, ds.labels, len(ds)
('toy', ['neg', 'pos'], 6)
>>> split = kshot_split(ds, k=1, seed=0)
>>> len(split.train_idx), len(split.eval_idx)
(2, 4)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

_TEXT_COLUMNS = ("text", "sentence", "content", "question", "review")
_LABEL_COLUMNS = ("label", "coarse_label", "label-coarse", "labels", "intent")


@dataclass(frozen=True)
class BenchDataset:
    """A labelled evaluation set: texts, their gold labels, and the ordered label names.

    ``source`` is the folder path or ``hf:NAME``; ``fingerprint`` is a sha256 of the labels and rows, so a
    resumed benchmark can tell that its data did not change.
    """

    name: str
    texts: list[str]
    gold: list[str]
    labels: list[str]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.labels, ensure_ascii=False).encode("utf-8"))
        for text, label in zip(self.texts, self.gold, strict=True):
            h.update(json.dumps([text, label], ensure_ascii=False).encode("utf-8"))
        return h.hexdigest()

    @property
    def unlabelled_file(self) -> str | None:
        """The folder's ``unlabelled.jsonl`` (texts without labels, for the pool setting), if it has one."""
        return self.meta.get("unlabelled")

    def class_counts(self) -> dict[str, int]:
        """Examples per label, in label order (labels absent from the file count 0)."""
        counts = Counter(self.gold)
        return {label: counts.get(label, 0) for label in self.labels}


@dataclass(frozen=True)
class Split:
    """A seeded k-shot split: ``train_idx`` (k per class, the few-shot pool) and ``eval_idx`` (the rest).

    Indices point into the data set; both lists are sorted and disjoint.
    """

    seed: int
    k: int
    train_idx: list[int]
    eval_idx: list[int]


def load_dataset(
    spec: str,
    *,
    name: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "test",
) -> BenchDataset:
    """Load a benchmark set from a local folder or, failing that, from the Hugging Face hub.

    ``spec`` is a folder (``../shared/benchmarks/trec``), ``hf:NAME[:CONFIG]`` or a bare hub name
    (``ag_news``, ``SetFit/sst2``). Raises :class:`~tutorloop.errors.DataError` for malformed data.
    """
    path = Path(spec).expanduser()
    if path.exists():
        return load_folder(path, name=name)
    if spec.startswith("hf:"):
        return load_hub(spec[3:], name=name, text_column=text_column, label_column=label_column, split=split)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or spec.endswith((".jsonl", ".json")):
        raise DataError(
            f"No benchmark folder at '{spec}'. Give a folder holding test.jsonl and labels.json "
            "(e.g. ../shared/benchmarks/trec) or a Hugging Face hub name such as hf:ag_news."
        )
    return load_hub(spec, name=name, text_column=text_column, label_column=label_column, split=split)


def load_folder(path: str | Path, *, name: str | None = None) -> BenchDataset:
    """Load ``test.jsonl`` + ``labels.json`` from ``path`` and check that they agree."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(
            f"'{path}' is not a folder. A benchmark set is a folder with test.jsonl and labels.json."
        )
    labels = _read_labels(path / "labels.json")
    texts, gold = _read_jsonl(path / "test.jsonl")
    pool = path / "unlabelled.jsonl"
    meta = {"unlabelled": str(pool)} if pool.is_file() else {}
    return _validated(name or path.resolve().name, texts, gold, labels, source=str(path), meta=meta)


def load_hub(
    hub_name: str,
    *,
    name: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "test",
) -> BenchDataset:
    """Load ``split`` of a hub data set with ``datasets.load_dataset`` (needs the network the first time).

    ``hub_name`` may carry a config after a colon (``glue:sst2``). Integer labels are mapped to names
    through the ``ClassLabel`` feature, whose order becomes the label order.
    """
    try:
        import datasets as hf_datasets
    except ImportError as exc:  # pragma: no cover - datasets ships with the setfit extra
        raise ConfigError(
            'Loading hub data sets needs the datasets package: pip install "tutorloop[setfit]"'
        ) from exc
    repo, _, config = hub_name.partition(":")
    try:
        table = hf_datasets.load_dataset(repo, config or None, split=split)
    except Exception as exc:  # noqa: BLE001 - datasets raises many unrelated types; report them uniformly
        raise DataError(
            f"Could not load '{hub_name}' split '{split}' from the Hugging Face hub: {exc}. "
            "Check the name (and network), or give a local folder with test.jsonl and "
            "labels.json."
        ) from exc
    columns = list(table.column_names)
    tcol = text_column or _pick(columns, _TEXT_COLUMNS, "text", hub_name)
    lcol = label_column or _pick(columns, _LABEL_COLUMNS, "label", hub_name)
    feature = table.features.get(lcol)
    raw = list(table[lcol])
    if hasattr(feature, "names"):
        labels = [str(n) for n in feature.names]
        gold = [labels[int(i)] for i in raw]
    else:
        gold = [str(v) for v in raw]
        labels = sorted(set(gold))
    texts = [str(t) for t in table[tcol]]
    base = name or re.sub(r"[^A-Za-z0-9_.-]+", "_", hub_name)
    return _validated(
        base,
        texts,
        gold,
        labels,
        source=f"hf:{hub_name}",
        meta={"split": split, "text_column": tcol, "label_column": lcol},
    )


def kshot_split(ds: BenchDataset, k: int, seed: int) -> Split:
    """Draw ``k`` examples of every class (seeded) as the few-shot pool; the rest is the evaluation set.

    The draw depends only on the data, ``k`` and ``seed``. ``k=0`` gives an empty pool. A class needs more
    than ``k`` examples so that it is still present in the evaluation set.
    """
    check_k(ds, k)
    by_label: dict[str, list[int]] = {label: [] for label in ds.labels}
    for i, label in enumerate(ds.gold):
        by_label[label].append(i)
    rng = random.Random(f"tutorloop-kshot:{seed}")
    train: list[int] = []
    for label in ds.labels:
        train.extend(rng.sample(by_label[label], k))
    chosen = set(train)
    return Split(
        seed=seed, k=k, train_idx=sorted(train), eval_idx=[i for i in range(len(ds)) if i not in chosen]
    )


def check_k(ds: BenchDataset, k: int) -> None:
    """Raise :class:`~tutorloop.errors.ConfigError` when ``k`` cannot be drawn from every class."""
    if not isinstance(k, int) or k < 0:
        raise ConfigError(f"k must be an int >= 0 (examples per class for few-shot). Got {k!r} instead.")
    if k == 0:
        return
    small = {label: n for label, n in ds.class_counts().items() if n <= k}
    if small:
        shown = ", ".join(f"'{lab}' has {n}" for lab, n in list(small.items())[:5])
        fewest = min(small.values())
        hint = f"use --k {fewest - 1} or less" if fewest > 1 else "remove that class or add examples of it"
        raise ConfigError(
            f"k={k} examples per class cannot be drawn from {ds.name}: {shown} "
            f"(k must be smaller than every class's size so that each class is still "
            f"evaluated); {hint}."
        )


def _read_labels(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(
            f"No labels.json in '{path.parent}'. Add a JSON list of the label names in order, "
            'e.g. ["negative", "positive"].'
        )
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid UTF-8 JSON: {exc}. It must be a list of label names.") from exc
    if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise DataError(f"{path} must be a JSON list of non-empty label names (strings).")
    if len(labels) < 2:
        raise DataError(f"{path} lists {len(labels)} label(s); a classification benchmark needs at least 2.")
    dupes = sorted(label for label, n in Counter(labels).items() if n > 1)
    if dupes:
        raise DataError(f"{path} lists these labels more than once: {dupes}. Each label name must be unique.")
    return list(labels)


def _read_jsonl(path: Path) -> tuple[list[str], list[str]]:
    if not path.is_file():
        raise DataError(
            f"No test.jsonl in '{path.parent}'. Add one JSON object per line: "
            '{"text": "...", "label": "..."}.'
        )
    texts: list[str] = []
    gold: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 ({exc}). Re-save it as UTF-8.") from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {lineno} is not valid JSON: {exc.msg}.") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "label" not in row:
            raise DataError(f'{path} line {lineno} must be an object with a string "text" and a "label".')
        if not row["text"].strip():
            raise DataError(f"{path} line {lineno} has an empty text.")
        texts.append(row["text"])
        gold.append(str(row["label"]))
    if not texts:
        raise DataError(f'{path} is empty: it needs one JSON object per line with "text" and "label".')
    return texts, gold


def _validated(
    name: str,
    texts: list[str],
    gold: list[str],
    labels: list[str],
    *,
    source: str,
    meta: dict[str, Any] | None = None,
) -> BenchDataset:
    if not texts:
        raise DataError(f"Data set '{name}' ({source}) has no examples.")
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise DataError(
            f"Data set '{name}' ({source}) has labels that labels.json does not list: "
            f"{shown}{more}. "
            f"Known labels: {labels[:10]}{' ...' if len(labels) > 10 else ''}. "
            "Fix the rows or add the names to labels.json."
        )
    return BenchDataset(name=name, texts=texts, gold=gold, labels=labels, source=source, meta=meta or {})


def _pick(columns: list[str], candidates: tuple[str, ...], what: str, hub_name: str) -> str:
    for c in candidates:
        if c in columns:
            return c
    raise DataError(
        f"Cannot tell which column of '{hub_name}' holds the {what} (columns: {columns}). "
        f"Pass {what}_column=... explicitly."
    )
