"""FakeLLM: a scripted backend for users' own tests and the unit suite. Public API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError, LLMError
from ..types import LLMRequest, LLMResponse
from .base import LLM

Reply = str | dict[str, Any] | list[Any] | BaseModel


def _to_text(reply: Reply) -> str:
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    if isinstance(reply, dict | list):
        return json.dumps(reply)
    return str(reply)


class FakeLLM(LLM):
    """Answers from a script instead of a model.

    Give either ``replies`` (returned in order; an error when they run out) or ``responder``, a function
    of the :class:`~tutorloop.types.LLMRequest` returning a string, dict, list or pydantic object.
    Every request it received is kept in ``requests``. Token counts are word counts.
    ``plans_tool_calls`` (default False, like the small local models) makes ``agent="auto"`` runs use the
    LLM agent instead of the policy.

    >>> llm = FakeLLM(responder=lambda req: {"label": "spam"})
    >>> from pydantic import BaseModel
    >>> class R(BaseModel):
    ...     label: str
    >>> llm.structured("Is this spam?", R).label
    'spam'
    """

    backend = "fake"
    supports_schema = True

    def __init__(
        self,
        replies: Iterable[Reply] | None = None,
        *,
        responder: Callable[[LLMRequest], Reply] | None = None,
        model: str = "fake",
        plans_tool_calls: bool = False,
        **kwargs: Any,
    ):
        super().__init__(model, **kwargs)
        if replies is None and responder is None:
            raise ConfigError("FakeLLM needs replies=[...] or responder=callable")
        self.plans_tool_calls = plans_tool_calls
        self._replies = list(replies) if replies is not None else None
        self._responder = responder
        self.requests: list[LLMRequest] = []

    def _complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self._responder is not None:
            text = _to_text(self._responder(request))
        else:
            assert self._replies is not None
            if not self._replies:
                raise LLMError("FakeLLM ran out of scripted replies; give it more replies or a responder.")
            text = _to_text(self._replies.pop(0))
        prompt_words = sum(len(m.content.split()) for m in request.messages)
        return LLMResponse(
            text=text,
            model=self.model,
            prompt_tokens=prompt_words,
            completion_tokens=len(text.split()),
            latency_s=0.0,
        )
