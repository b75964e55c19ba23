"""``tutorloop train``, ``predict`` and ``eval``: one classifier, one labelled file, one model directory."""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ..classifiers import registry
from ..errors import ConfigError, DataError

_KIND_CHOICE = click.Choice(registry.names())


def console(stderr: bool = False) -> Any:
    """A rich console (stderr for progress and notes, so stdout stays machine-readable)."""
    from rich.console import Console

    return Console(stderr=stderr)


def metrics_report(out: Any, m: Mapping[str, Any], title: str) -> None:
    """Print accuracy, macro-F1, a per-class table and the confusion matrix with rich."""
    from rich.table import Table

    out.print(f"[bold]{title}[/bold]")
    out.print(f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}   n {m['n']}")
    per = Table("label", "precision", "recall", "f1", "support", title="Per class")
    for lab, s in m["per_class"].items():
        per.add_row(lab, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"]))
    out.print(per)
    cm = Table("true \\ predicted", *m["labels"], title="Confusion matrix")
    for i, (lab, row) in enumerate(zip(m["labels"], m["confusion"], strict=True)):
        cm.add_row(lab, *[f"[bold]{v}[/bold]" if i == j else str(v) for j, v in enumerate(row)])
    out.print(cm)


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r} must look like NAME=VALUE, e.g. --param C=5")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _split(texts: list[str], labels: list[str], holdout: float, seed: int):
    """Stratified train/held-out split; no split when ``holdout`` is 0 or a class has < 2 examples."""
    counts = Counter(labels)
    n_test = round(len(texts) * holdout)
    if holdout <= 0 or min(counts.values()) < 2 or n_test < len(counts) or len(texts) - n_test < len(counts):
        return texts, labels, [], []
    from sklearn.model_selection import train_test_split

    tr_x, te_x, tr_y, te_y = train_test_split(
        texts, labels, test_size=n_test, random_state=seed, stratify=labels
    )
    return list(tr_x), list(tr_y), list(te_x), list(te_y)


@click.command("train")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--classifier", "kind", type=_KIND_CHOICE, default="tfidf", show_default=True, help=registry.help_text()
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--holdout",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 0.9),
    help="Fraction held out (stratified) to score the model; the saved model is trained on the "
    "rest. 0 trains on everything and records no metrics.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the held-out split.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Classifier parameter, e.g. --param C=5 or --param max_seq_length=128. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the held-out metrics as JSON.")
def train_cmd(
    file: Path,
    kind: str,
    out: Path,
    text_column: str,
    label_column: str,
    holdout: float,
    seed: int,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Train one classifier on a labelled FILE (.jsonl, .csv or .parquet) and save it to --out.

    A stratified --holdout split (default 20%) scores the model; its metrics go into the model's
    manifest and card. Example: tutorloop train data.jsonl --classifier embed --out model
    """
    from ..classifiers import make_classifier
    from ..classifiers.base import data_hash
    from ..evaluation.metrics import evaluate

    texts, labels = read = _read(file, text_column, label_column)
    clf = make_classifier(kind, **_parse_params(params))
    tr_x, tr_y, te_x, te_y = _split(texts, labels, holdout, seed)
    err = console(stderr=True)
    with err.status(f"Training {kind} on {len(tr_x)} examples..."):
        clf.fit(tr_x, tr_y)
    metrics: dict[str, Any] = {}
    if te_x:
        proba = clf.predict_proba(te_x)
        scores = evaluate(te_y, clf.classes_[proba.argmax(1)], list(clf.classes_), proba=proba)
        metrics = {**scores, "split": f"stratified holdout {holdout:g}, seed {seed}"}
    path = clf.save(
        out,
        metrics=metrics,
        data_hash=data_hash(*read),
        extra={"source_file": str(file), "n_train": len(tr_x), "n_heldout": len(te_x)},
    )
    if as_json:
        click.echo(json.dumps({"model": str(path), "metrics": metrics}, indent=2))
        return
    if metrics:
        metrics_report(console(), metrics, title=f"Held-out scores ({len(te_x)} examples)")
    else:
        err.print("No held-out split (use --holdout > 0 with at least 2 examples per label) - no metrics.")
    err.print(f"Saved {kind} model to [bold]{path}[/bold]")


def _read(file: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    from ..data.io import read_labelled

    return read_labelled(file, text_column=text_column, label_column=label_column)


def _rows(model: Any, texts: list[str]) -> list[dict[str, Any]]:
    proba = model.predict_proba(texts)
    labels = [str(c) for c in model.classes_]
    return [
        {
            "text": t,
            "label": labels[int(p.argmax())],
            "probabilities": {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)},
        }
        for t, p in zip(texts, proba, strict=True)
    ]


@click.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("text", required=False)
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="File of texts: .jsonl, .csv, .parquet or .txt (one text per line). With --engine ray: a "
    "folder or glob (quoted, e.g. 'data/*.parquet') of .parquet or .jsonl files.",
)
@click.option("--text-column", default="text", show_default=True)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="JSONL to write (text, label, probabilities); default: stdout. With --engine ray: the folder "
    "of part files to write.",
)
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--threads", default=None, type=click.IntRange(1, 256), help="onnxruntime threads.")
@click.option("--json", "as_json", is_flag=True, help="Single text: print the JSON row.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: classify a folder of files on Ray Data, one model copy per actor "
    '(pip install "tutorloop[ray]").',
)
@click.option(
    "--output-format",
    type=click.Choice(["parquet", "jsonl"]),
    default=None,
    help="--engine ray: format of the part files.  [default: parquet]",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 100_000),
    default=None,
    help="--engine ray: actors, each with its own copy of the model.  [default: the cluster's CPUs]",
)
@click.option(
    "--address",
    default=None,
    help="--engine ray: Ray cluster to join (HOST:PORT, ray://HOST:PORT or auto); default: start a "
    "local one.",
)
@click.option(
    "--id-column", default=None, help="--engine ray: column to carry through.  [default: id, if present]"
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=None,
    help="--engine ray: retries of a block that raised.  [default: 2]",
)
@click.option("--overwrite", is_flag=True, help="--engine ray: replace the result files already in --output.")
def predict_cmd(
    model_path: Path,
    text: str | None,
    input_path: Path | None,
    text_column: str,
    output: Path | None,
    batch_size: int,
    threads: int | None,
    as_json: bool,
    **batch: Any,
) -> None:
    """Classify TEXT, or every text in --input, with a trained MODEL.

    Files are streamed in batches (bounded memory) with a progress bar on stderr.
    Examples: tutorloop predict model "great film" ;
    tutorloop predict model --input reviews.csv --text-column body --output out.jsonl ;
    tutorloop predict model --input 'data/*.parquet' --engine ray --output preds/
    """
    from ..classifiers import load

    if batch.pop("engine") == "ray":
        if text is not None or input_path is None or output is None:
            raise click.UsageError("--engine ray needs --input DIR_OR_GLOB and --output DIR (and no TEXT).")
        _predict_ray(model_path, input_path, output, text_column, batch_size, threads, batch)
        return
    given = [f"--{name.replace('_', '-')}" for name, value in batch.items() if value not in (None, False)]
    if given:
        raise click.UsageError(f"{', '.join(given)} only apply with --engine ray.")
    if (text is None) == (input_path is None):
        raise click.UsageError("Give either a TEXT argument or --input FILE (not both).")
    if output is not None and output.is_dir():
        raise click.UsageError(f"--output {output} is a folder; give a file (or use --engine ray).")
    model = load(model_path, threads=threads)
    if text is not None:
        row = _rows(model, [text])[0]
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            probs = "  ".join(
                f"{k}={v:.3f}" for k, v in sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
            )
            click.echo(f"{row['label']}\t{probs}")
        return
    assert input_path is not None  # checked above: exactly one of TEXT and --input
    _predict_file(model, input_path, text_column, output, batch_size)


def _predict_ray(
    model_path: Path,
    input_path: Path,
    output: Path,
    text_column: str,
    batch_size: int,
    threads: int | None,
    options: dict[str, Any],
) -> None:
    """``predict --engine ray``: the folder-to-folder batch job of :func:`tutorloop.scale.predict_dataset`."""
    from ..scale import predict_dataset

    result = predict_dataset(
        model_path,
        str(input_path),
        output,
        engine="ray",
        output_format=options["output_format"] or "parquet",
        text_column=text_column,
        id_column=options["id_column"],
        batch_size=batch_size,
        concurrency=options["concurrency"],
        address=options["address"],
        threads=threads,
        retries=2 if options["retries"] is None else options["retries"],
        overwrite=options["overwrite"],
    )
    console(stderr=True).print(
        f"Wrote {result.rows} predictions to [bold]{output}[/bold] in {len(result.files)} file(s), "
        f"{result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s)"
    )


def _predict_file(
    model: Any, input_path: Path, text_column: str, output: Path | None, batch_size: int
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..data.io import iter_texts

    batches = iter_texts(input_path, text_column=text_column, batch_size=batch_size)
    first = next(batches, None)  # a bad file fails here: before the progress bar and the output file
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115 - closed below
    n = 0
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} texts"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console(stderr=True), transient=output is None) as progress:
            task = progress.add_task(f"Classifying {input_path.name}", total=None)
            for batch in itertools.chain([first] if first else [], batches):
                for row in _rows(model, batch):
                    sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += len(batch)
                progress.update(task, completed=n)
    finally:
        if output:
            sink.close()
    if output:
        console(stderr=True).print(f"Wrote {n} predictions to [bold]{output}[/bold]")


@click.command("eval")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print the full metrics as JSON.")
def eval_cmd(
    model_path: Path, file: Path, text_column: str, label_column: str, batch_size: int, as_json: bool
) -> None:
    """Score MODEL on a labelled FILE: accuracy, macro-F1, per-class scores and the confusion matrix."""
    import numpy as np

    from ..classifiers import load
    from ..evaluation.metrics import evaluate

    model = load(model_path)
    texts, labels = _read(file, text_column, label_column)
    known = {str(c) for c in model.classes_}
    unseen = sorted(set(labels) - known)
    if unseen:
        raise DataError(
            f"{file} has labels the model was not trained on: {', '.join(map(repr, unseen))}. "
            f"The model knows: {', '.join(sorted(known))}. Fix or drop those rows, or retrain."
        )
    proba = np.concatenate(
        [model.predict_proba(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    )
    report = evaluate(labels, model.classes_[proba.argmax(1)], [str(c) for c in model.classes_], proba=proba)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        metrics_report(console(), report, title=f"{model_path} on {file} ({len(texts)} examples)")
