"""Command-line options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_HTTP_BACKEND_OPTIONS = (
    click.option("--base-url", default=None, help="Base URL for openai:MODEL backends."),
    click.option(
        "--api-key-env",
        default=None,
        help="Environment variable holding the API key for openai:MODEL [OPENAI_API_KEY; none on loopback].",
    ),
    click.option(
        "--max-concurrency",
        type=click.IntRange(min=1),
        default=None,
        help="Requests in flight at once for openai:MODEL [8]; match the server's parallel slots "
        "(vLLM --max-num-seqs, llama.cpp --parallel). Give it again with --resume.",
    ),
    click.option(
        "--requests-per-minute",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Rate limit for openai:MODEL: requests a minute, spaced evenly over all in flight.",
    ),
    click.option(
        "--tokens-per-minute",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Rate limit for openai:MODEL: tokens a minute (prompt + completion).",
    ),
)


def http_backend_options(command: F) -> F:
    """``--base-url``, ``--api-key-env``, ``--max-concurrency``, ``--requests-per-minute`` and
    ``--tokens-per-minute``: how to reach an OpenAI-compatible teacher; the command receives them as
    keyword arguments of the same names (``None`` when not given)."""
    for option in reversed(_HTTP_BACKEND_OPTIONS):
        command = option(command)
    return command


def given(**options: Any) -> dict[str, Any]:
    """The options that were given (not ``None``), to pass on to ``get_llm``."""
    return {k: v for k, v in options.items() if v is not None}
