"""``tutorloop label``: teacher labels for a whole file of texts, resumable. Wiring only."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import given, http_backend_options


@click.command("label")
@click.argument("task_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Texts to label: .txt (one per line), .jsonl, .csv or .parquet.",
)
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSONL out.")
@click.option("--text-column", default="text", show_default=True, help="Column holding the text.")
@click.option("--batch", type=click.IntRange(1, 32), default=1, show_default=True, help="Texts per request.")
@click.option("--resume", is_flag=True, help="Continue an OUTPUT that exists (after a kill or an error).")
@click.option("--llm", "llm_spec", default="local", show_default=True, help="LLM spec, e.g. openai:MODEL.")
@http_backend_options
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for local models.")
@click.option("--no-cache", is_flag=True, help="Do not use the LLM response cache.")
def label_cmd(
    task_file: Path,
    input_path: Path,
    output: Path,
    text_column: str,
    batch: int,
    resume: bool,
    llm_spec: str,
    base_url: str | None,
    api_key_env: str | None,
    max_concurrency: int | None,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    threads: int | None,
    no_cache: bool,
) -> None:
    """Label every text of --input with the teacher, blind, as the loop labels pool texts (same prompt
    and schema, the task's labels), writing {"index", "text", "label"} lines to --output in input order.
    Ctrl-C or a failed request keeps every line written: --resume continues, and the replies that came
    in but were not written yet come from the response cache."""
    from ..llm import get_llm
    from ..loop import Task
    from ..scale.label import label_file
    from .signals import exit_code, interruptible

    task = Task.from_yaml(task_file)
    options = given(
        base_url=base_url,
        api_key_env=api_key_env,
        max_concurrency=max_concurrency,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )
    llm = get_llm(llm_spec, cache=not no_cache, threads=threads, **options)
    try:
        with interruptible():
            result = label_file(
                task, input_path, output, llm, text_column=text_column, batch=batch, resume=resume
            )
    except KeyboardInterrupt as exc:
        click.echo(
            f"\nInterrupted. Every line written is kept: tutorloop label {task_file} --input {input_path} "
            f"--output {output} --resume ...",
            err=True,
        )
        raise click.exceptions.Exit(exit_code(exc)) from None
    finally:
        llm.close()
    summary = {
        "output": str(result.output),
        "labelled": result.labelled,
        "failed": result.failed,
        "resumed_after": result.resumed,
        "seconds": round(result.seconds, 2),
        "calls": result.ledger.get("calls"),
        "cache_hits": result.ledger.get("cache_hits"),
        "total_tokens": result.ledger.get("total_tokens"),
    }
    click.echo(json.dumps(summary))
