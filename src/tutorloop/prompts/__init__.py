"""Prompt templates (versioned text files), their renderer, and the schemas of every LLM reply."""

from .render import Rendered, as_data, labels_block, render
from .schemas import (
    AgentPlan,
    DescriptionReply,
    TextsReply,
    TopicsReply,
    judge_reply,
    labels_reply,
    texts_reply,
)

__all__ = [
    "AgentPlan",
    "DescriptionReply",
    "Rendered",
    "TextsReply",
    "TopicsReply",
    "as_data",
    "judge_reply",
    "labels_block",
    "labels_reply",
    "render",
    "texts_reply",
]
