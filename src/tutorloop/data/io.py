"""Reading and writing labelled data: JSONL, CSV, Parquet (and plain text for unlabelled input).

Readers raise :class:`~tutorloop.errors.DataError` with the file and line number when something is wrong.
:func:`iter_texts` streams texts in batches so huge files are read in bounded memory.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
>>> write_jsonl(p, [{"text": "great film", "label": "pos"}, {"text": "dull", "label": "neg"}])
2
>>> read_labelled(p)
(['great film', 'dull'], ['pos', 'neg'])
>>> list(iter_texts(p, batch_size=1))
[['great film'], ['dull']]
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

FORMATS = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".parquet", ".txt")


def _format(path: Path, allowed: tuple[str, ...]) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use one of {', '.join(allowed)}."
        )
    return suffix


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    if not path.is_file():
        raise DataError(f"{path} is not a file.")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) decoding UTF-8 strictly, so bad bytes give the line number."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                utf16 = lineno == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")
                raise DataError(
                    f"{path}, line {lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start}"
                    f"{'; the file looks like UTF-16' if utf16 else ''}). Re-save the file as UTF-8."
                ) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {lineno}: invalid JSON ({exc.msg}).") from None
        except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise DataError(f"{path}, line {lineno}: invalid JSON ({problem}).") from None
        if not isinstance(row, dict):
            raise DataError(
                f'{path}, line {lineno}: expected a JSON object per line ({{"text": ...}}), got '
                f"{type(row).__name__}. JSON files are read as JSON Lines: one object per line."
            )
        yield lineno, row


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # Decode line by line ourselves (strict UTF-8 with line numbers), then let csv parse.
    lines = (line for _, line in _lines(path))
    reader = csv.DictReader(lines, delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        problem = str(exc).split(" - do you need")[0]
        raise DataError(f"{path}, line {max(1, reader.line_num)}: malformed CSV ({problem}).") from None


def _iter_parquet(path: Path, columns: list[str], batch_size: int) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError('Reading Parquet needs pyarrow: pip install "tutorloop[io]"') from exc
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({_one_line(exc)}).") from None
    names = set(pf.schema_arrow.names)
    missing = [c for c in columns if c not in names]
    if missing:
        have = sorted(names)
        raise DataError(
            f"{path}: no column {missing[0]!r}; columns are {', '.join(have[:20])}"
            f"{', ...' if len(have) > 20 else ''}. Pass --text-column/--label-column to name the right ones."
        )
    rowno = 0
    try:
        batches = pf.iter_batches(batch_size=batch_size, columns=columns)
        for batch in batches:
            rows = batch.to_pylist()
            for row in rows:
                rowno += 1
                yield rowno, row
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError: a damaged file
        raise DataError(f"{path}, row {rowno + 1}: not a readable Parquet file ({_one_line(exc)}).") from None


def _one_line(exc: BaseException) -> str:
    """A library's error message on one line (pyarrow's span several)."""
    return " ".join(str(exc).split())


def iter_rows(path: str | Path, columns: list[str], *, batch_size: int = 1024) -> Iterator[tuple[int, dict]]:
    """Stream ``(line_or_row_number, row_dict)`` from a JSONL/CSV/Parquet file, checking ``columns`` exist."""
    path = Path(path)
    _check_exists(path)
    fmt = _format(path, (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".parquet"))
    if fmt == ".parquet":
        yield from _iter_parquet(path, columns, batch_size)
        return
    rows = _iter_csv(path) if fmt in (".csv", ".tsv") else _iter_jsonl(path)
    for lineno, row in rows:
        for col in columns:
            if col not in row:
                names = sorted(map(str, row))
                have = ", ".join(n[:40] for n in names[:20]) + (", ..." if len(names) > 20 else "") or "none"
                raise DataError(
                    f"{path}, line {lineno}: no column {col!r} (columns: {have}). "
                    f"Pass --text-column/--label-column to name the right ones."
                )
        yield lineno, row


def _as_text(value: Any, path: Path, lineno: int, column: str) -> str:
    """``value`` as a text: strings, and whole or finite numbers (``1`` -> ``"1"``); anything else
    (null, true/false, lists, objects, bytes, NaN) is a :class:`DataError` naming the line."""
    if value is None:
        raise DataError(f"{path}, line {lineno}: {column!r} is empty (null).")
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        text = str(value)
    else:
        kind = {bool: "true/false", list: "a list", dict: "an object", bytes: "binary data"}.get(
            type(value),
            "a number that is NaN or infinite" if isinstance(value, float) else type(value).__name__,
        )
        raise DataError(
            f"{path}, line {lineno}: {column!r} must be text; got {kind} ({value!r:.40}). "
            "Store each value as a string."
        )
    if not text.strip():
        raise DataError(f"{path}, line {lineno}: {column!r} is empty; remove the row or fill it in.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. JSON "\ud800"
        raise DataError(
            f"{path}, line {lineno}: {column!r} holds an invalid character ({exc.reason} at position "
            f"{exc.start}); it cannot be stored as UTF-8. Fix or remove that value."
        ) from None
    return text


def read_labelled(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    """Read ``(texts, labels)`` from a JSONL, CSV or Parquet file.

    Raises:
        DataError: missing file or column, empty file or value, invalid JSON, non-UTF-8 bytes (with the
            line number).
    """
    path = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    for lineno, row in iter_rows(path, [text_column, label_column]):
        texts.append(_as_text(row[text_column], path, lineno, text_column))
        label = _as_text(row[label_column], path, lineno, label_column).strip()
        if not label.isprintable() and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in label):
            raise DataError(
                f"{path}, line {lineno}: the label {label[:60]!r} contains a line break or control "
                "character; a label must be one line of plain text."
            )
        labels.append(label)
    if not texts:
        raise DataError(f"{path} has no rows; it needs one labelled example per line.")
    return texts, labels


def iter_texts(path: str | Path, text_column: str = "text", batch_size: int = 256) -> Iterator[list[str]]:
    """Stream the texts of a file in lists of at most ``batch_size``, in bounded memory.

    ``.txt`` files give one text per non-empty line; JSONL/CSV/Parquet read ``text_column``.
    Empty texts raise :class:`DataError` naming the line.
    """
    path = Path(path)
    _check_exists(path)
    fmt = _format(path, FORMATS)
    batch: list[str] = []
    if fmt == ".txt":
        source: Iterable[tuple[int, str]] = (
            (n, line.rstrip("\r\n")) for n, line in _lines(path) if line.strip()
        )
    else:
        source = (
            (n, _as_text(row[text_column], path, n, text_column))
            for n, row in iter_rows(path, [text_column], batch_size=batch_size)
        )
    for _, text in source:
        batch.append(text)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts as UTF-8 JSON lines (creating parent directories); returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 through a temporary file beside ``path`` and :func:`os.replace`.

    A crash or a full disk leaves the old file or the new one, never half of one.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = atomic_write_text(p, '{"a": 1}')
    >>> atomic_write_text(p, "\\ud800")  # not encodable: fails before anything is replaced
    Traceback (most recent call last):
    ...
    UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed
    >>> p.read_text(), [q.name for q in p.parent.iterdir()]
    ('{"a": 1}', ['config.json'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = ["atomic_write_text", "iter_rows", "iter_texts", "read_labelled", "write_jsonl"]
