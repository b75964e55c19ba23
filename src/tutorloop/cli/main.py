"""Command-line entry point: a click group whose subcommands are imported only when used.

Lazy loading keeps ``tutorloop --help`` fast (no torch or llama.cpp import) and lets each command group
live in its own module. Expected errors print one line ``Name: message`` and exit 1.
"""

from __future__ import annotations

import importlib
import re
import sys

import click

from ..errors import TutorloopError

# name -> (module:attribute, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("tutorloop.cli.loop:init_cmd", "Draft a task file from a description and label names."),
    "run": ("tutorloop.cli.loop:run_cmd", "Run Curate-Train-Refine on a task file (or --resume a run)."),
    "export": ("tutorloop.cli.loop:export_cmd", "Export a run's curated data set with provenance."),
    "label": ("tutorloop.cli.label:label_cmd", "Teacher labels for a whole file of texts (resumable)."),
    "train": ("tutorloop.cli.models:train_cmd", "Train one classifier on a labelled file."),
    "predict": ("tutorloop.cli.models:predict_cmd", "Classify a text or a whole file with a trained model."),
    "eval": ("tutorloop.cli.models:eval_cmd", "Score a trained model on a labelled file."),
    "serve": ("tutorloop.cli.serve:serve_cmd", "Serve a trained model over HTTP (FastAPI)."),
    "bench": ("tutorloop.cli.bench:bench_cmd", "Benchmark tutorloop against baselines on test sets."),
    "llm": ("tutorloop.cli.llm:llm_group", "Inspect and check LLM backends."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tutorloop")
def cli() -> None:
    """tutorloop: from a task description and label names to a small, fast text classifier.

    An LLM curates labelled examples, a lightweight classifier trains on them, and the LLM reads the
    classifier's mistakes to write targeted examples, round after round.
    """


def _one_line(message: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", message.strip())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected errors become one line on stderr and exit code 1."""
    try:
        # without standalone mode click *returns* the code of an ``Exit`` (Ctrl-C in `run` raises
        # Exit(130), `bench` with failed cells Exit(1)): pass it on, or the process would exit 0
        code = cli.main(args=argv, prog_name="tutorloop", standalone_mode=False)
    except TutorloopError as exc:  # one line, even when a message quotes a multi-line library error
        click.echo(f"{type(exc).__name__}: {_one_line(str(exc))}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
