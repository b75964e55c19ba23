"""Curate-Train-Refine: from a task description and label names to a trained classifier.

>>> from tutorloop.loop import LoopConfig, Task
>>> Task.from_labels("Sentiment of movie reviews", ["positive", "negative"]).label_names
['positive', 'negative']
"""

from .config import LoopConfig
from .runner import RunResult, run
from .task import DataFile, LabelSpec, Task

__all__ = ["DataFile", "LabelSpec", "LoopConfig", "RunResult", "Task", "run"]
