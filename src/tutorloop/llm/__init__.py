"""LLM layer: backends behind one interface, with cache, ledger and structured replies."""

from .base import LLM, StructuredJob, extract_json
from .cache import ResponseCache
from .fake import FakeLLM
from .ledger import Ledger, LedgerEntry

__all__ = ["LLM", "FakeLLM", "Ledger", "LedgerEntry", "ResponseCache", "StructuredJob", "extract_json",
           "get_llm"]


def get_llm(spec: str = "local", **kwargs):  # noqa: ANN201 - re-exported from registry lazily
    """Build a backend from a spec such as ``local``, ``local:/path/model.gguf``, ``openai:gpt-4o-mini``."""
    from .registry import get_llm as _get_llm

    return _get_llm(spec, **kwargs)
