"""Pydantic schemas for every LLM reply (``extra="forbid"``). Kept terse: every generated token costs time.

String lengths are deliberately *not* constrained in the schemas: a ``maxLength`` becomes a long
repetition in llama.cpp's grammar and slows constrained sampling a lot. Callers clip strings instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

_FORBID = ConfigDict(extra="forbid")


class TopicsReply(BaseModel):
    """Sub-topics proposed for one label."""

    model_config = _FORBID
    topics: list[str] = Field(min_length=1, max_length=12)


class TextsReply(BaseModel):
    """Generated texts for one label under one attribute combination (any count up to 20)."""

    model_config = _FORBID
    texts: list[str] = Field(max_length=20)


@lru_cache(maxsize=64)
def texts_reply(n: int) -> type[BaseModel]:
    """Schema of a generation reply with exactly ``n`` texts (small models otherwise stop after one).

    >>> texts_reply(2).model_validate({"texts": ["a", "b"]}).texts
    ['a', 'b']
    """
    return create_model(
        "TextsReply", __config__=_FORBID, texts=(list[str], Field(min_length=n, max_length=n))
    )


class DescriptionReply(BaseModel):
    """A one-line label description."""

    model_config = _FORBID
    description: str


@lru_cache(maxsize=256)
def labels_reply(labels: tuple[str, ...], n: int) -> type[BaseModel]:
    """Schema of a blind verification reply: exactly ``n`` labels, each one of ``labels``.

    >>> R = labels_reply(("pos", "neg"), 2)
    >>> R.model_validate({"labels": ["pos", "neg"]}).labels
    ['pos', 'neg']
    """
    item = Literal[labels]  # type: ignore[valid-type]
    return create_model(
        f"Labels{n}", __config__=_FORBID, labels=(list[item], Field(min_length=n, max_length=n))
    )


@lru_cache(maxsize=64)
def judge_reply(n: int) -> type[BaseModel]:
    """Schema of a judge reply: exactly ``n`` booleans."""
    return create_model(f"Judge{n}", __config__=_FORBID, ok=(list[bool], Field(min_length=n, max_length=n)))


# -- agent tools ------------------------------------------------------------------------------------------
class GenerateAction(BaseModel):
    model_config = _FORBID
    tool: Literal["generate"]
    label: str
    guidance: str = ""
    n: int = Field(default=4, ge=1, le=64)


class ContrastAction(BaseModel):
    model_config = _FORBID
    tool: Literal["contrast"]
    label: str
    confused_with: str
    guidance: str = ""
    n: int = Field(default=4, ge=1, le=64)


class DropAction(BaseModel):
    model_config = _FORBID
    tool: Literal["drop"]
    example_ids: list[int] = Field(min_length=1, max_length=50)
    reason: str = ""


class RelabelAction(BaseModel):
    model_config = _FORBID
    tool: Literal["relabel"]
    example_id: int
    label: str
    reason: str = ""


class DescribeAction(BaseModel):
    model_config = _FORBID
    tool: Literal["describe"]
    label: str
    description: str = Field(min_length=3)


class StopAction(BaseModel):
    model_config = _FORBID
    tool: Literal["stop"]
    reason: str = ""


class LabelPoolAction(BaseModel):
    model_config = _FORBID
    tool: Literal["label_pool"]
    n: int = Field(default=16, ge=1, le=500)
    reason: str = ""


AnyAction = (
    GenerateAction
    | ContrastAction
    | DropAction
    | RelabelAction
    | DescribeAction
    | LabelPoolAction
    | StopAction
)
"""Any refinement tool call (for type hints); each has a registry entry in :mod:`tutorloop.loop.actions`."""

Action = Annotated[AnyAction, Field(discriminator="tool")]
"""A tool call as the agent writes it: validated by its ``tool`` field."""


class AgentPlan(BaseModel):
    """The agent's reply for one round: a diagnosis and up to a few tool calls."""

    model_config = _FORBID
    diagnosis: str
    actions: list[Action] = Field(max_length=12)
