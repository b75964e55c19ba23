"""From a spec string to an LLM backend: ``local``, ``local:smollm2``, ``local:/x.gguf``, ``openai:MODEL``.

Specs are ``BACKEND[:REST]``. Built-in backends:

- ``local`` — the embedded llama.cpp model. ``REST`` is empty (Qwen2.5-Coder-1.5B-Instruct, the default),
  a packaged alias (``smollm2``, ``qwen0.5b``, ``qwen1.5b``), a path to a ``.gguf`` file, or
  ``hf:OWNER/REPO/FILE.gguf`` (downloaded once from the Hugging Face Hub).
- ``openai`` — any OpenAI-compatible HTTP server; ``REST`` is the model name.

Third-party packages add backends through the ``tutorloop.backends`` entry-point group: the entry point
loads a callable ``factory(rest: str, **options) -> LLM`` (an :class:`~tutorloop.llm.LLM` subclass works).
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import LLM
from .cache import ResponseCache
from .models import DEFAULT_MODEL, PACKAGED, download_hf, locate

ENTRY_POINT_GROUP = "tutorloop.backends"
BUILTIN = ("local", "openai")


def _plugins() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names of built-in and installed plugin backends."""
    return list(BUILTIN) + sorted(set(_plugins()) - set(BUILTIN))


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _resolve_cache(cache: bool | ResponseCache | None) -> ResponseCache | None:
    if cache is True:
        return ResponseCache()
    if cache is False or cache is None:
        return None
    if isinstance(cache, ResponseCache):
        return cache
    raise ConfigError(f"cache must be True, False or a ResponseCache. Got {type(cache).__name__} instead.")


def _local(rest: str, *, threads: int | None, **kw: Any) -> LLM:
    from .local import LocalLLM

    if rest in ("", "default"):
        rest = DEFAULT_MODEL
    if rest in PACKAGED:
        model = PACKAGED[rest]
        return LocalLLM(locate(rest), model_name=model.name, threads=threads, **kw)
    if rest.startswith("hf:"):
        return LocalLLM(download_hf(rest[3:]), threads=threads, **kw)
    if "/" in rest or "\\" in rest or rest.endswith(".gguf") or rest.startswith("~"):
        return LocalLLM(Path(rest).expanduser(), threads=threads, **kw)
    raise ConfigError(
        f"Unknown local model '{rest}'.{_did_you_mean(rest, list(PACKAGED))} Use one of "
        f"{', '.join(PACKAGED)}, a path to a .gguf file, or hf:OWNER/REPO/FILE.gguf."
    )


def _openai(rest: str, **kw: Any) -> LLM:
    from .openai_compat import OpenAICompatLLM

    if not rest:
        raise ConfigError(
            "The openai backend needs a model name: --llm openai:MODEL, e.g. "
            "openai:gpt-4o-mini (with --base-url for other OpenAI-compatible servers)."
        )
    return OpenAICompatLLM(rest, **{k: v for k, v in kw.items() if v is not None})


def get_llm(
    spec: str = "local",
    *,
    cache: bool | ResponseCache | None = True,
    threads: int | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    max_concurrency: int | None = None,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    timeout: float = 120.0,
    **kw: Any,
) -> LLM:
    """Build an LLM backend from a spec string.

    ``cache=True`` uses the default response cache (``$TUTORLOOP_HOME/llm_cache.sqlite``), ``False``
    none, or pass a :class:`ResponseCache`. ``threads`` applies to ``local`` models; ``base_url``,
    ``api_key_env``, ``max_concurrency`` (requests in flight, default 8), ``requests_per_minute``,
    ``tokens_per_minute`` and ``timeout`` to ``openai`` (a local model answers one request at a time).
    Other keyword arguments go to the backend's constructor.

    >>> get_llm("opnai:gpt-4o-mini")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Unknown LLM backend 'opnai' in 'opnai:gpt-4o-mini'. Did you mean ...
    """
    name, _, rest = spec.strip().partition(":")
    name = name.lower()
    cache_obj = _resolve_cache(cache)
    if name == "local":
        for opt, val in (
            ("base_url", base_url),
            ("api_key_env", api_key_env),
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if val is not None:
                raise ConfigError(f"{opt} applies to openai:MODEL backends, not to '{spec}'.")
        if max_concurrency not in (None, 1):
            raise ConfigError(
                f"max_concurrency={max_concurrency} applies to openai:MODEL backends: the embedded model "
                f"'{spec}' answers one request at a time. Leave it out, or serve the model with parallel "
                "slots (docs/scale.md) and use openai:MODEL with --base-url."
            )
        return _local(rest, threads=threads, cache=cache_obj, **kw)
    if name == "openai":
        if threads is not None:
            raise ConfigError(f"threads applies to local models, not to '{spec}'.")
        return _openai(
            rest,
            cache=cache_obj,
            base_url=base_url,
            api_key_env=api_key_env,
            max_concurrency=max_concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            timeout=timeout,
            **kw,
        )
    plugins = _plugins()
    if name in plugins:
        factory: Callable[..., LLM] = plugins[name].load()
        options = {
            "threads": threads,
            "base_url": base_url,
            "api_key_env": api_key_env,
            "max_concurrency": max_concurrency,
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
        }
        return factory(rest, cache=cache_obj, **{k: v for k, v in options.items() if v is not None}, **kw)
    known = available_backends()
    raise ConfigError(
        f"Unknown LLM backend '{name}' in '{spec}'.{_did_you_mean(name, known)} "
        f"Known backends: {', '.join(known)} "
        "(use e.g. local, local:smollm2, openai:gpt-4o-mini)."
    )
