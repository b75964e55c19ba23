"""``tutorloop init``, ``run`` and ``export``: thin click wiring around :mod:`tutorloop.loop`."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..classifiers import registry
from ..errors import ConfigError, StorageError
from .options import given, http_backend_options

# full disk or quota, read-only file system or file, failing disk (EDQUOT: POSIX only)
_DISK_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES, errno.EIO}


@click.command("init")
@click.argument("task_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--task", "description", required=True, help="One sentence: what should the classifier do?")
@click.option("--labels", required=True, help="Comma-separated label names.")
@click.option(
    "--llm", "llm_spec", default="local", show_default=True, help="LLM that drafts label descriptions."
)
@click.option(
    "--no-describe", is_flag=True, help="Write bare label names; do not ask the LLM for descriptions."
)
@click.option("--force", is_flag=True, help="Overwrite TASK_FILE if it exists.")
def init_cmd(
    task_file: Path, description: str, labels: str, llm_spec: str, no_describe: bool, force: bool
) -> None:
    """Draft a task file: the LLM writes a one-line description per label, which you can then edit."""
    from ..loop import LabelSpec, Task
    from ..loop.describe import describe_labels

    if task_file.exists() and not force:
        raise ConfigError(f"{task_file} exists; pass --force to overwrite it.")
    task = Task.from_labels(description, [s for s in labels.split(",")])
    if not no_describe:
        from ..llm import get_llm

        descriptions = describe_labels(task, get_llm(llm_spec))
        task = Task(
            task.description, [LabelSpec(lab.name, descriptions.get(lab.name)) for lab in task.labels]
        )
    task_file.parent.mkdir(parents=True, exist_ok=True)
    task.to_yaml(task_file)
    click.echo(
        f"Wrote {task_file} ({len(task.labels)} labels). Edit the descriptions, then: "
        f"tutorloop run {task_file} --out runs/{task_file.stem}"
    )


# LoopConfig fields become `run` options (named after the field, help from its doc); a few keep the
# shorter names they had before the options were generated.
_OPTION_NAMES = {"max_rounds": "--rounds", "time_budget_s": "--time-budget"}


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per :class:`~tutorloop.loop.LoopConfig` field (default: the saved or default value)."""
    from ..loop.config import CHOICES, LoopConfig

    hints = typing.get_type_hints(LoopConfig)
    for f in reversed(dataclasses.fields(LoopConfig)):
        name = _OPTION_NAMES.get(f.name, "--" + f.name.replace("_", "-"))
        kind = hints[f.name]
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        doc = f.metadata.get("doc", "")
        if base is bool:
            flag = name.removeprefix("--")
            command = click.option(f"--{flag}/--no-{flag}", f.name, default=None, help=doc)(command)
        else:
            ptype = click.Choice(CHOICES[f.name]) if f.name in CHOICES else base
            command = click.option(name, f.name, type=ptype, default=None, help=doc)(command)
    return command


@click.command("run")
@click.argument("task_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder (default runs/<task>)."
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the run in this folder, skipping finished work.",
)
@click.option(
    "--llm", "llm_spec", default=None, help="LLM spec: local (default), local:smollm2, openai:MODEL, ..."
)
@http_backend_options
@click.option(
    "--classifier",
    default=None,
    type=click.Choice(registry.names()),
    help="Classifier kind (default: embed).",
)
@_config_options
@click.option("--threads", type=int, default=None, help="CPU threads for the local LLM and the encoder.")
@click.option("--no-cache", is_flag=True, help="Do not use the LLM response cache.")
@click.option(
    "--price",
    default=None,
    metavar="PROMPT,COMPLETION",
    help="USD per million prompt and completion tokens, for the cost in the ledger and report "
    "(e.g. 0.15,0.6). Give it again with --resume.",
)
@click.option("--dev", type=click.Path(dir_okay=False, path_type=Path), help="Labelled dev set (validation).")
@click.option(
    "--unlabelled", type=click.Path(dir_okay=False, path_type=Path), help="Unlabelled domain texts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def run_cmd(
    task_file: Path | None,
    out: Path | None,
    resume_dir: Path | None,
    llm_spec: str | None,
    base_url: str | None,
    api_key_env: str | None,
    max_concurrency: int | None,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    classifier: str | None,
    threads: int | None,
    no_cache: bool,
    price: str | None,
    dev: Path | None,
    unlabelled: Path | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Run Curate-Train-Refine on TASK_FILE (or --resume a run folder).

    Every LoopConfig setting is an option; one left out keeps its saved (with --resume) or default value.
    Ctrl-C or SIGTERM stops the run keeping all finished work (exit code 130 or 143); --resume continues.
    """
    from ..loop import Task
    from ..loop.runner import run_opened
    from ..loop.setup import open_run
    from ..loop.task import DataFile

    if task_file is None and resume_dir is None:
        raise click.UsageError("Give a TASK_FILE, or --resume RUN_DIR.")
    if threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        _torch_threads(threads)
    run_dir = resume_dir or out or Path("runs") / (task_file.stem if task_file else "run")
    task = Task.from_yaml(task_file) if task_file else None
    if task is not None and (dev or unlabelled):
        task = dataclasses.replace(
            task,
            dev=DataFile(str(dev)) if dev else task.dev,
            unlabelled=DataFile(str(unlabelled)) if unlabelled else task.unlabelled,
        )
    extra: dict[str, object] = given(  # base_url: below, since a resumed run reuses the saved one
        api_key_env=api_key_env,
        max_concurrency=max_concurrency,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )
    if price is not None:  # checked before the run folder is made
        from ..llm.ledger import Ledger, parse_price

        extra["ledger"] = Ledger(cost_per_1k=parse_price(price))
    from ..llm import get_llm
    from .signals import exit_code, interruptible

    llm = None
    try:
        with interruptible():  # SIGTERM (and SIGINT in a background job) stop the run as Ctrl-C does
            setup = open_run(
                run_dir,
                task,
                overrides={k: v for k, v in settings.items() if v is not None},
                classifier=classifier,
                llm_spec=llm_spec,
                default_llm_spec="local",
                resume=resume_dir is not None,
                base_url=base_url,
            )
            if setup.base_url:  # given now, or saved by the run being resumed
                extra["base_url"] = setup.base_url
            llm = get_llm(setup.llm_spec or "local", cache=not no_cache, threads=threads, **extra)
            result = run_opened(setup, llm, progress=not as_json)
    except KeyboardInterrupt as exc:
        click.echo(f"\nInterrupted. Nothing finished is lost: tutorloop run --resume {run_dir}", err=True)
        raise click.exceptions.Exit(exit_code(exc)) from None
    except OSError as exc:  # a file write (ledger, model, report) on a full or read-only disk
        if exc.errno not in _DISK_ERRNOS:
            raise
        raise StorageError(
            f"Could not write {exc.filename or run_dir} ({exc.strerror}). Nothing finished is lost: free "
            f"some space (or make it writable), then: tutorloop run --resume {run_dir}",
            path=exc.filename,
        ) from exc
    finally:
        if llm is not None:
            llm.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "run_dir": str(result.run_dir),
                    "best_round": result.best_round,
                    "stopped": result.stopped,
                    "history": result.history,
                    "ledger": result.ledger,
                    "warnings": result.warnings,
                },
                ensure_ascii=False,
                default=str,
            )
        )


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "hf"]), default="jsonl", show_default=True
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output file (folder for hf).")
@click.option("--all", "include_dropped", is_flag=True, help="Include dropped examples (with their reason).")
@click.option("--split", type=click.Choice(["train", "val"]), default=None, help="Only this split.")
def export_cmd(run_dir: Path, fmt: str, out: Path | None, include_dropped: bool, split: str | None) -> None:
    """Export a run's curated data set, each example with its provenance."""
    from ..loop.export import export_run

    path, n = export_run(run_dir, fmt, out, include_dropped=include_dropped, split=split)
    click.echo(f"Wrote {n} examples to {path}")


def _torch_threads(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
