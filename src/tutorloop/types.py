"""Plain data passed between layers. No behaviour beyond small conveniences."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """Everything that determines an LLM reply. Its :meth:`key` is the cache key.

    ``json_schema`` is the JSON schema the reply must satisfy (``None`` for free text);
    ``sample_index`` distinguishes deliberate repeated samples of the same prompt.
    """

    messages: tuple[Message, ...]
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    sample_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [asdict(m) for m in self.messages],
            "json_schema": self.json_schema,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "sample_index": self.sample_index,
        }

    def key(self, backend: str, model: str) -> str:
        """sha256 of the whole request plus backend and model, as canonical sorted JSON."""
        payload = {"backend": backend, "model": model, **self.to_dict()}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class LLMResponse:
    """A reply from a backend, with its usage."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
