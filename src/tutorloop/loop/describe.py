"""Draft one-line label descriptions with the LLM (for ``tutorloop init``)."""

from __future__ import annotations

from ..llm.base import LLM
from .config import LoopConfig
from .label_space import build_label_space
from .llm_tasks import DESCRIBE
from .task import Task


def describe_labels(task: Task, llm: LLM) -> dict[str, str]:
    """Label name -> one-line description drafted by ``llm`` (labels whose reply failed are left out).
    With many labels each prompt lists only the label's nearest names (the run's default shortlist)."""
    names = task.label_names
    k = LoopConfig().resolved(len(names)).label_shortlist
    space = build_label_space(names, names, k) if k else None
    jobs = [DESCRIBE.job(task, lab, space.near_label(lab) if space else None) for lab in names]
    out = {}
    for lab, reply in zip(task.label_names, llm.structured_many(jobs), strict=True):
        description = DESCRIBE.parse(reply)
        if description is not None:
            out[lab] = description
    return out
