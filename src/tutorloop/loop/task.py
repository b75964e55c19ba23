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

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.io import atomic_write_text
from ..errors import ConfigError

_TASK_KEYS = ("task", "labels", "unlabelled", "dev")
_LABEL_KEYS = ("name", "description", "examples")
_FILE_KEYS = ("path", "text_column", "label_column")
MAX_LABEL_CHARS = 200
"""Longest label name accepted: a name is a short tag; what it means goes in its ``description``."""


def _type_name(value: Any) -> str:
    name = type(value).__name__
    return {dict: "a mapping", list: "a list", bool: "true/false", type(None): "nothing"}.get(
        type(value), f"an {name}" if name[0] in "aeiou" else f"a {name}"
    )


def _norm_name(name: str) -> str:
    """How names are compared for uniqueness: case and runs of whitespace do not count."""
    return " ".join(name.split()).casefold()


def _check_label_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"Label names must be non-empty strings; got {name!r}.")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")), None)
    if bad is not None:
        what = "a line break" if bad in "\n\r\u2028\u2029\x85" else f"the control character {bad!r}"
        raise ConfigError(
            f"Label name {name[:60]!r} contains {what}; a label name must be one line of plain text. "
            "Put longer explanations in the label's 'description'."
        )
    if len(name) > MAX_LABEL_CHARS:
        raise ConfigError(
            f"Label name {name[:40]!r}... is {len(name):,} characters long; keep names under "
            f"{MAX_LABEL_CHARS} characters and put the explanation in the label's 'description'."
        )


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
    >>> Task.from_labels("x", ["a", " A"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Label names must be unique; 'a' appears 2 times (names that ....
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
        if not isinstance(self.labels, list) or not all(isinstance(lab, LabelSpec) for lab in self.labels):
            raise ConfigError("A task's labels must be a list of LabelSpec.")
        names = [lab.name for lab in self.labels]
        for name in names:
            _check_label_name(name)
        if len(names) < 2:
            raise ConfigError(f"A task needs at least two labels; got {len(names)} ({names}).")
        seen: dict[str, int] = {}
        for name in names:
            seen[_norm_name(name)] = seen.get(_norm_name(name), 0) + 1
        for name in names:
            count = seen[_norm_name(name)]
            if count > 1:
                raise ConfigError(
                    f"Label names must be unique; {name!r} appears {count} times "
                    "(names that differ only in case or spaces count as the same)."
                )

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
        if not isinstance(data["task"], str):
            raise ConfigError(
                f"'task' must be one sentence of text saying what the classifier should do; got "
                f"{_type_name(data['task'])} ({data['task']!r:.60})."
            )
        return cls(
            data["task"].strip(),
            labels,
            _file_from(data.get("unlabelled"), "unlabelled", base_dir),
            _file_from(data.get("dev"), "dev", base_dir),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Task:
        """Read a task YAML file (relative data paths are resolved against the file's folder)."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"Task file {str(path)!r} is a folder; give the task YAML file inside it.")
        if not path.is_file():
            raise ConfigError(f"Task file {str(path)!r} does not exist. Create one with `tutorloop init`.")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"Task file {str(path)!r} is not UTF-8 text (line {line}: {exc.reason} at byte {exc.start}). "
                "Re-save it as UTF-8."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"Task file {str(path)!r} is not valid YAML: {_yaml_problem(exc)}") from exc
        except RecursionError:
            raise ConfigError(
                f"Task file {str(path)!r} is nested too deeply to read; a task file is a short mapping "
                "with 'task' and 'labels'."
            ) from None
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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where the YAML parser stopped and why."""
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    context = " ".join(str(getattr(exc, "context", None) or "").split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + (f"{problem} ({context})" if context else problem)


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
    name = item["name"]
    if not isinstance(name, str | int | float) or isinstance(name, bool):
        raise ConfigError(f"A label's 'name' must be text; got {_type_name(name)} ({name!r:.60}).")
    examples = item.get("examples")
    if examples is None:
        examples = []
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ConfigError(
            f"'examples' of label {name!r} must be a list of strings; got {_type_name(examples)}."
        )
    desc = item.get("description")
    if desc is not None and not isinstance(desc, str):
        raise ConfigError(
            f"'description' of label {name!r} must be one line of text; got {_type_name(desc)}."
        )
    return LabelSpec(
        str(name).strip(),
        desc.strip() if desc and desc.strip() else None,
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
    if not isinstance(item["path"], str) or not item["path"].strip():
        raise ConfigError(f"'{key}' needs a file path in 'path'; got {_type_name(item['path'])}.")
    for col in ("text_column", "label_column"):
        if col in item and (not isinstance(item[col], str) or not item[col]):
            raise ConfigError(
                f"'{col}' of '{key}' must be a column name; got {_type_name(item[col])} ({item[col]!r:.40})."
            )
    path = Path(item["path"]).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return DataFile(str(path), item.get("text_column", "text"), item.get("label_column", "label"))
