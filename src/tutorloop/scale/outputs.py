"""Prediction rows and the output folder: what both batch engines (local and Ray) write, and how.

Each input row becomes one output row with the columns ``row`` (its 0-based position in the input,
files in sorted path order), the input's id column if it has one, the text column, ``label`` and
``probabilities`` (one field per label, in the model's label order). A block of input rows is written
to one part file named after its first row, ``part-000000020000.parquet`` (or ``.jsonl``): the sorted
file names follow the input order whichever worker wrote them, and a retried block rewrites the same
file (written to a temporary name, then renamed).

>>> import tempfile, pyarrow as pa
>>> from tutorloop.classifiers import make_classifier
>>> clf = make_classifier("tfidf").fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
>>> out = predict_table(clf, pa.table({"row": [0], "text": ["great"]}), "text")
>>> out.column_names, out.column("label").to_pylist()
(['row', 'text', 'label', 'probabilities'], ['pos'])
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError
from .sources import ROW_COLUMN

OutputFormat = Literal["parquet", "jsonl"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("parquet", "jsonl")
_RESULT_SUFFIXES = (".parquet", ".jsonl", ".json")


def predict_table(model: Any, table: Any, text_column: str) -> Any:
    """``table`` plus the columns ``label`` and ``probabilities`` (a struct with one field per label)."""
    import pyarrow as pa

    labels = [str(c) for c in model.classes_]
    proba = np.asarray(model.predict_proba(table.column(text_column).to_pylist()), dtype=np.float64)
    proba = proba.reshape(len(table), len(labels))
    names = np.asarray(labels, dtype=object)[proba.argmax(axis=1)] if len(proba) else []
    probabilities = pa.StructArray.from_arrays(
        [pa.array(proba[:, j]) for j in range(len(labels))], names=labels
    )
    return table.append_column("label", pa.array(list(names), pa.string())).append_column(
        "probabilities", probabilities
    )


def result_files(output: Path) -> list[Path]:
    """The result files (``.parquet``/``.jsonl``/``.json``) directly in ``output``, sorted by name."""
    if not output.is_dir():
        return []
    return sorted(p for p in output.iterdir() if p.is_file() and p.suffix.lower() in _RESULT_SUFFIXES)


def prepare_output(output: Path, *, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Check the output folder before any work starts; with ``overwrite``, delete its old result files.

    Raises:
        ConfigError: ``output`` is a file, it already holds results (without ``overwrite``), or an input
            file lies inside it (``overwrite`` would delete the input).
    """
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file; batch prediction writes a folder of part files.")
    root = output.resolve()
    inside = [p for p in inputs if root in p.resolve().parents]
    if inside:
        raise ConfigError(f"--output {output} holds input files ({inside[0]}); write the results elsewhere.")
    old = result_files(output)
    if old and not overwrite:
        raise ConfigError(
            f"--output {output} already holds {len(old)} result file(s) ({old[0].name}, ...); "
            "choose an empty folder or pass --overwrite to replace them."
        )
    for path in old + sorted(output.glob(".part-*.tmp")):  # the temporaries of a killed run, too
        path.unlink()
    output.mkdir(parents=True, exist_ok=True)


def part_name(first_row: int, fmt: OutputFormat) -> str:
    """``part-000000020000.parquet``: named after the block's first input row, so names sort in order."""
    return f"part-{first_row:012d}.{fmt}"


def write_part(table: Any, path: Path, fmt: OutputFormat) -> None:
    """Write one part file: Parquet, or JSON lines (UTF-8, one object per row, nested probabilities).

    The file appears complete or not at all: it is written under a temporary name, then renamed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def predict_block(
    model: Any, table: Any, *, text_column: str, output: Path, fmt: OutputFormat, batch_size: int
) -> dict[str, Any]:
    """Classify a block of input rows ``batch_size`` at a time and write it as one part file.

    Returns ``{"file": part file name, "rows": rows written}``.
    """
    import pyarrow as pa

    if not table.num_rows:
        return {"file": "", "rows": 0}
    parts = [
        predict_table(model, table.slice(start, batch_size), text_column)
        for start in range(0, table.num_rows, batch_size)
    ]
    name = part_name(int(table.column(ROW_COLUMN)[0].as_py()), fmt)
    write_part(pa.concat_tables(parts), output / name, fmt)
    return {"file": name, "rows": table.num_rows}


def check_format(fmt: str) -> OutputFormat:
    """``fmt`` if it is an output format, else :class:`ConfigError`."""
    for known in OUTPUT_FORMATS:
        if fmt == known:
            return known
    raise ConfigError(f"Unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}.")


__all__ = [
    "OUTPUT_FORMATS",
    "part_name",
    "predict_block",
    "predict_table",
    "prepare_output",
    "result_files",
    "write_part",
]
