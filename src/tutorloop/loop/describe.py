"""Draft one-line label descriptions with the LLM (for ``tutorloop init``)."""

from __future__ import annotations

from ..errors import LLMOutputError
from ..llm.base import LLM, StructuredJob
from ..prompts import DescriptionReply, render
from .task import Task


def describe_labels(task: Task, llm: LLM) -> dict[str, str]:
    """Label name -> one-line description drafted by ``llm`` (labels whose reply failed are left out)."""
    names = ", ".join(task.label_names)
    jobs = [
        StructuredJob(
            render("describe", task=task.description, names=names, label=lab).messages,
            DescriptionReply,
            temperature=0.0,
            max_tokens=120,
            purpose="describe",
        )
        for lab in task.label_names
    ]
    out = {}
    for lab, reply in zip(task.label_names, llm.structured_many(jobs), strict=True):
        if not isinstance(reply, LLMOutputError) and reply.description.strip():
            out[lab] = " ".join(reply.description.split())
    return out
