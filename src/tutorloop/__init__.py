"""tutorloop: from a task description and label names to a small, fast text classifier.

The LLM is the data curator, not the classifier (Curate-Train-Refine).
"""

from __future__ import annotations

from .errors import (
    ArtifactError,
    BudgetError,
    ConfigError,
    DataError,
    LLMError,
    LLMOutputError,
    NotTrainedError,
    TutorloopError,
)
from .llm import LLM, FakeLLM, get_llm
from .loop import LabelSpec, LoopConfig, RunResult, Task, run

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "ArtifactError",
    "BudgetError",
    "ConfigError",
    "DataError",
    "FakeLLM",
    "LLMError",
    "LLMOutputError",
    "LabelSpec",
    "LoopConfig",
    "NotTrainedError",
    "RunResult",
    "Task",
    "TutorloopError",
    "__version__",
    "get_llm",
    "run",
    "load",
    "make_classifier",
]


def __getattr__(name: str):  # noqa: ANN202 - lazy so `import tutorloop` does not import scikit-learn
    """``tutorloop.load`` and ``tutorloop.make_classifier`` come from :mod:`tutorloop.classifiers`."""
    if name in ("load", "make_classifier"):
        from . import classifiers

        return getattr(classifiers, name)
    raise AttributeError(f"module 'tutorloop' has no attribute {name!r}")
