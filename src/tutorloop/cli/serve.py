"""``tutorloop serve``: a trained model over HTTP (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from ..errors import ConfigError


@click.command("serve")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback exposes the model to the network: use --api-key-env.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-batch", default=256, show_default=True, type=click.IntRange(1), help="Texts per request."
)
@click.option("--max-text-chars", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--max-body-bytes", default=4_000_000, show_default=True, type=click.IntRange(1))
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 256),
    help="embed/setfit models: batches encoded at once, one onnxruntime thread each (default: one per CPU).",
)
@click.option(
    "--limit-concurrency",
    default=None,
    type=click.IntRange(1),
    help="Connections and requests at once, counting the arriving one (uvicorn's rule); at the limit "
    "the server answers 503 at once "
    "instead of queueing without bound (default: no limit).",
)
@click.option(
    "--timeout-keep-alive",
    default=None,
    type=click.IntRange(1),
    help="Seconds an idle connection is kept open (default 75). Keep it above your clients' idle timeout "
    "(httpx: 5 s), or a client reusing a connection as the server closes it gets a connection reset.",
)
@click.option(
    "--request-timeout",
    "request_timeout",
    default=None,
    type=click.FloatRange(0),
    help="Seconds a /predict request may wait for its answer, queue included, before the server answers "
    "503 with Retry-After and drops its texts (default 60; 0: no limit).",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    default=None,
    help="Require the API key held in environment variable VAR (Authorization: Bearer KEY, or "
    "X-API-Key) on every route but /health. The key itself is never given on the command line.",
)
def serve_cmd(
    model_path: Path,
    host: str,
    port: int,
    max_batch: int,
    max_text_chars: int,
    max_body_bytes: int,
    threads: int | None,
    timeout_keep_alive: int | None,
    limit_concurrency: int | None,
    request_timeout: float | None,
    api_key_env: str | None,
) -> None:
    """Serve MODEL: POST /predict, GET /health, GET /info, docs at /docs.

    Example: tutorloop serve model --port 8000 ; curl -d '{"text": "great film"}' localhost:8000/predict
    """
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env, "").strip() or None
        if api_key is None:
            raise ConfigError(
                f"--api-key-env {api_key_env}: the environment variable {api_key_env} is not set or "
                f"empty. Put the key in it (export {api_key_env}=...) and start the server again."
            )
    if not _is_loopback(host) and api_key is None:
        click.echo(
            f"Warning: serving on {host}, which other machines can reach, without an API key: anyone "
            "who can connect can use the model. Set one with --api-key-env VAR, or bind 127.0.0.1.",
            err=True,
        )
    try:
        import uvicorn

        from ..serve.app import REQUEST_TIMEOUT_S, TIMEOUT_KEEP_ALIVE_S, create_app
    except ImportError as exc:
        raise ConfigError(
            f'Serving needs FastAPI and uvicorn ({exc}): pip install "tutorloop[serve]"'
        ) from exc
    app = create_app(
        model_path,
        max_batch=max_batch,
        max_text_chars=max_text_chars,
        max_body_bytes=max_body_bytes,
        threads=threads,
        api_key=api_key,
        request_timeout_s=REQUEST_TIMEOUT_S if request_timeout is None else (request_timeout or None),
    )
    auth = f" (API key from ${api_key_env} required)" if api_key else ""
    click.echo(f"Serving {model_path} on http://{host}:{port}{auth} (docs at /docs)", err=True)
    keep_alive = timeout_keep_alive or TIMEOUT_KEEP_ALIVE_S
    uvicorn.run(
        app,
        host=host,
        port=port,
        timeout_keep_alive=keep_alive,
        limit_concurrency=limit_concurrency,
        log_level="info",
    )


def _is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
