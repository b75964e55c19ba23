"""Task and LabelSpec: what the classifier should learn, read from and written to a task YAML file.

A task file::

    task: Classify movie reviews by sentiment
    labels:
      - name: positive
        description: The reviewer liked the film.
        examples: ["A joy from start to finish."]
      - negative                       # a bare name works too
    unlabelled: reviews.txt            # optional: real texts from the domain (path, or {path, text_column})
    dev: dev.jsonl                     # optional: small labelled dev set
                                       # (path, or {path, text_column, label_column})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.io import atomic_write_text
from ..errors import ConfigError

_TASK_KEYS = ("task", "labels", "unlabelled", "dev")
_LABEL_KEYS = ("name", "description", "examples")
_FILE_KEYS = ("path", "text_column", "label_column")


@dataclass(frozen=True)
class LabelSpec:
    """One label: its name, an optional one-line description and optional seed examples.

    >>> LabelSpec("positive", "The reviewer liked the film.").name
    'positive'
    """

    name: str
    description: str | None = None
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.examples:
            out["examples"] = list(self.examples)
        return out


@dataclass(frozen=True)
class DataFile:
    """A user data file and the columns to read from it."""

    path: str
    text_column: str = "text"
    label_column: str = "label"


@dataclass(frozen=True)
class Task:
    """A classification task: a description, at least two labels, optional unlabelled texts and dev set.

    >>> t = Task.from_labels("Classify movie reviews by sentiment", ["positive", "negative"])
    >>> t.label_names
    ['positive', 'negative']
    >>> Task.from_labels("x", ["a", "a"])
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Label names must be unique; 'a' appears 2 times.
    """

    description: str
    labels: list[LabelSpec]
    unlabelled: DataFile | None = None
    dev: DataFile | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.description, str) or not self.description.strip():
            raise ConfigError(
                "The task description is empty: say in one sentence what the classifier should do."
            )
        names = [lab.name for lab in self.labels]
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"Label names must be non-empty strings; got {name!r}.")
        if len(names) < 2:
            raise ConfigError(f"A task needs at least two labels; got {len(names)} ({names}).")
        for name in dict.fromkeys(names):
            count = sum(1 for n in names if n.strip().lower() == name.strip().lower())
            if count > 1:
                raise ConfigError(f"Label names must be unique; {name!r} appears {count} times.")

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    def label(self, name: str) -> LabelSpec:
        """The :class:`LabelSpec` called ``name``."""
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise ConfigError(f"The task has no label {name!r}. Its labels: {self.label_names}.")

    def with_description(self, name: str, description: str) -> Task:
        """A copy where label ``name`` has a new description."""
        labels = [
            LabelSpec(lab.name, description if lab.name == name else lab.description, lab.examples)
            for lab in self.labels
        ]
        return Task(self.description, labels, self.unlabelled, self.dev)

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_labels(cls, description: str, labels: list[str]) -> Task:
        """A task from a description and bare label names."""
        return cls(description, [LabelSpec(str(name).strip()) for name in labels])

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: Path | None = None) -> Task:
        """Build from parsed YAML; unknown keys raise :class:`ConfigError` naming the allowed ones."""
        if not isinstance(data, dict):
            raise ConfigError("A task file must be a mapping with keys 'task' and 'labels'.")
        _check_keys(data, _TASK_KEYS, "task file")
        if "task" not in data or "labels" not in data:
            raise ConfigError("A task file needs both 'task' (a one-sentence description) and 'labels'.")
        raw_labels = data["labels"]
        if isinstance(raw_labels, str):
            raw_labels = [s for s in raw_labels.split(",")]
        if not isinstance(raw_labels, list):
            raise ConfigError(
                "'labels' must be a list of names or of {name, description, examples} mappings."
            )
        labels = [_label_from(item) for item in raw_labels]
        return cls(
            str(data["task"]).strip(),
            labels,
            _file_from(data.get("unlabelled"), "unlabelled", base_dir),
            _file_from(data.get("dev"), "dev", base_dir),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Task:
        """Read a task YAML file (relative data paths are resolved against the file's folder)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Task file {str(path)!r} does not exist. Create one with `tutorloop init`.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"Task file {str(path)!r} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, base_dir=path.resolve().parent)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.description, "labels": [lab.to_dict() for lab in self.labels]}
        for key in ("unlabelled", "dev"):
            f = getattr(self, key)
            if f is not None:
                out[key] = {"path": f.path, "text_column": f.text_column} | (
                    {"label_column": f.label_column} if key == "dev" else {}
                )
        return out

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The task as YAML text; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=110)
        if path is not None:
            atomic_write_text(path, text)
        return text


def _check_keys(data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"Unknown key {unknown[0]!r} in {where}. Allowed keys: {', '.join(allowed)}.")


def _label_from(item: Any) -> LabelSpec:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        return LabelSpec(str(item).strip())
    if not isinstance(item, dict):
        raise ConfigError(f"Each label must be a name or a mapping with 'name'; got {item!r}.")
    _check_keys(item, _LABEL_KEYS, f"label {item.get('name', '?')!r}")
    if "name" not in item or item["name"] is None:
        raise ConfigError(f"A label mapping needs a 'name'; got {item!r}.")
    examples = item.get("examples") or []
    if isinstance(examples, str) or not all(isinstance(e, str) for e in examples):
        raise ConfigError(f"'examples' of label {item['name']!r} must be a list of strings.")
    desc = item.get("description")
    return LabelSpec(
        str(item["name"]).strip(),
        str(desc).strip() if desc else None,
        [e.strip() for e in examples if e.strip()],
    )


def _file_from(item: Any, key: str, base_dir: Path | None) -> DataFile | None:
    if item is None:
        return None
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, dict) or "path" not in item:
        raise ConfigError(f"'{key}' must be a file path or a mapping with 'path'; got {item!r}.")
    _check_keys(item, _FILE_KEYS, f"'{key}'")
    path = Path(str(item["path"])).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return DataFile(str(path), str(item.get("text_column", "text")), str(item.get("label_column", "label")))
