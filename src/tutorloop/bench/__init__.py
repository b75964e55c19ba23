"""Benchmark harness: tutorloop against zero- and few-shot baselines on labelled test sets.

>>> from tutorloop.bench import METHODS, resolve_methods
>>> [m.name for m in resolve_methods(["single-pass", "tutorloop"])]
['tutorloop', 'single-pass']
"""

from .datasets import BenchDataset, Split, kshot_split, load_dataset
from .harness import DEFAULT_METHODS, run_bench
from .registry import METHODS, BenchSettings, Cell, MethodOutput, register_method, resolve_methods
from .tasks import TaskSpec, load_tasks

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "BenchDataset",
    "BenchSettings",
    "Cell",
    "MethodOutput",
    "Split",
    "TaskSpec",
    "kshot_split",
    "load_dataset",
    "load_tasks",
    "register_method",
    "resolve_methods",
    "run_bench",
]
