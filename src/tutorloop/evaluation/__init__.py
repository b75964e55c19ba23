"""Evaluation: pure metric functions (:mod:`.metrics`)."""

from .metrics import confusion_matrix, evaluate

__all__ = ["confusion_matrix", "evaluate"]
