"""Draft one-line label descriptions with the LLM (for ``tutorloop init``)."""

from __future__ import annotations

from ..llm.base import LLM
from .llm_tasks import DESCRIBE
from .task import Task


def describe_labels(task: Task, llm: LLM) -> dict[str, str]:
    """Label name -> one-line description drafted by ``llm`` (labels whose reply failed are left out)."""
    jobs = [DESCRIBE.job(task, lab) for lab in task.label_names]
    out = {}
    for lab, reply in zip(task.label_names, llm.structured_many(jobs), strict=True):
        description = DESCRIBE.parse(reply)
        if description is not None:
            out[lab] = description
    return out
