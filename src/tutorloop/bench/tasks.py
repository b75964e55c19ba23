"""Per-data-set task descriptions for the benchmark (``benchmarks/tasks.yaml`` in the repository).

The file maps a data set name to at most a one-line ``description`` and, optionally, ``labels`` (label name ->
one-line description, used only by the ``zero-shot-sim-desc`` baseline)::

    trec:
      description: Classify a question by the type of answer it asks for.

>>> spec = TaskSpec.default("trec")
>>> spec.description
'Classify each text into one of the given labels.'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError

DEFAULT_DESCRIPTION = "Classify each text into one of the given labels."


@dataclass(frozen=True)
class TaskSpec:
    """What the LLM-based methods are told about a data set besides its label names."""

    name: str
    description: str
    label_descriptions: dict[str, str] = field(default_factory=dict)
    from_file: bool = False

    @classmethod
    def default(cls, name: str) -> TaskSpec:
        """The generic description used when the tasks file has no entry for ``name``."""
        return cls(name=name, description=DEFAULT_DESCRIPTION)


def default_tasks_path() -> Path | None:
    """``benchmarks/tasks.yaml`` in the current directory or the source checkout; None if neither exists."""
    candidates = [
        Path.cwd() / "benchmarks" / "tasks.yaml",
        Path(__file__).resolve().parents[3] / "benchmarks" / "tasks.yaml",
    ]
    return next((p for p in candidates if p.is_file()), None)


def load_tasks(path: str | Path | None) -> dict[str, TaskSpec]:
    """Read a tasks file into ``{name: TaskSpec}``; ``None`` gives ``{}``.

    Raises :class:`~tutorloop.errors.ConfigError` when the file is missing or malformed, or a description
    spans more than one line.
    """
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Tasks file '{path}' does not exist. Give --tasks PATH to a YAML file such as "
            "benchmarks/tasks.yaml."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Tasks file '{path}' is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Tasks file '{path}' must map data set names to {{description: ...}}.")
    return {str(name): _spec(str(name), entry, path) for name, entry in raw.items()}


def _spec(name: str, entry: object, path: Path) -> TaskSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("description"), str):
        raise ConfigError(f"Tasks file '{path}': entry '{name}' needs a string 'description'.")
    unknown = set(entry) - {"description", "labels"}
    if unknown:
        raise ConfigError(
            f"Tasks file '{path}': entry '{name}' has unknown keys {sorted(unknown)}; "
            "allowed: description, labels."
        )
    description = entry["description"].strip()
    if not description or "\n" in description:
        raise ConfigError(f"Tasks file '{path}': the description of '{name}' must be one non-empty line.")
    labels = entry.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(
            f"Tasks file '{path}': 'labels' of '{name}' must map label names to one-line strings."
        )
    return TaskSpec(
        name=name,
        description=description,
        label_descriptions={str(k): v.strip() for k, v in labels.items()},
        from_file=True,
    )
