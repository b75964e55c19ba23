"""``tutorloop serve``: a trained model over HTTP (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError


@click.command("serve")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-batch", default=256, show_default=True, type=click.IntRange(1), help="Texts per request."
)
@click.option("--max-text-chars", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--max-body-bytes", default=4_000_000, show_default=True, type=click.IntRange(1))
@click.option("--threads", default=None, type=click.IntRange(1, 256), help="onnxruntime threads.")
def serve_cmd(
    model_path: Path,
    host: str,
    port: int,
    max_batch: int,
    max_text_chars: int,
    max_body_bytes: int,
    threads: int | None,
) -> None:
    """Serve MODEL: POST /predict, GET /health, GET /info, docs at /docs.

    Example: tutorloop serve model --port 8000 ; curl -d '{"text": "great film"}' localhost:8000/predict
    """
    try:
        import uvicorn

        from ..serve.app import create_app
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
    )
    click.echo(f"Serving {model_path} on http://{host}:{port} (docs at /docs)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
