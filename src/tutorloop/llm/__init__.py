"""LLM layer: backends behind one interface, with cache, ledger and structured replies.

``get_llm(spec)`` builds a backend (``local``, ``local:smollm2``, ``local:/x.gguf``, ``openai:MODEL``);
``FakeLLM`` answers from a script for tests. Backends are imported on first use, so importing this
package never loads llama.cpp.

>>> from tutorloop.llm import FakeLLM
>>> FakeLLM(replies=["hi"]).backend
'fake'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import LLM, StructuredJob, extract_json
from .cache import ResponseCache
from .fake import FakeLLM
from .ledger import Ledger, LedgerEntry

if TYPE_CHECKING:
    from .local import LocalLLM
    from .openai_compat import OpenAICompatLLM

__all__ = [
    "LLM",
    "FakeLLM",
    "Ledger",
    "LedgerEntry",
    "LocalLLM",
    "OpenAICompatLLM",
    "ResponseCache",
    "StructuredJob",
    "extract_json",
    "get_llm",
]

_LAZY = {"LocalLLM": ".local", "OpenAICompatLLM": ".openai_compat"}


def get_llm(spec: str = "local", **kwargs: Any) -> LLM:
    """Build a backend from a spec such as ``local``, ``local:/path/model.gguf``, ``openai:gpt-4o-mini``.

    See :func:`tutorloop.llm.registry.get_llm` for the options (``cache``, ``threads``, ``base_url``,
    ``api_key_env``, ``max_concurrency``, ``timeout``).
    """
    from .registry import get_llm as _get_llm

    return _get_llm(spec, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
