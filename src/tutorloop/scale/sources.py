"""Input files for batch prediction: resolve a folder or glob, check it, and cut it into ordered chunks.

A *plan* is built on the driver before any work starts. It lists every input file in sorted path order
and cuts each into :class:`Chunk` s (a Parquet row group, or a byte range of whole JSONL lines) whose
global row numbers are known up front, so every output row carries its stable input position ``row``
however many workers read the chunks and in whatever order they finish. Parquet needs only the file
footers for this; JSONL files are scanned once for line boundaries (no JSON parsing).

>>> import json, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_text("".join(json.dumps({"text": f"t{i}"}) + "\\n" for i in range(5)))
>>> plan = plan_inputs(str(d), text_column="text", rows_per_chunk=2)
>>> [(c.first_row, c.num_rows) for c in plan.chunks]
[(0, 2), (2, 2), (4, 1)]
>>> [t.to_pydict() for t in read_chunk(plan.chunks[2], plan.columns)]
[{'row': [4], 'text': ['t4']}]
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, DataError

Format = Literal["parquet", "jsonl"]

SUFFIXES: dict[str, Format] = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
ROW_COLUMN = "row"
DEFAULT_ID_COLUMN = "id"


@dataclass(frozen=True)
class Columns:
    """What a chunk read keeps: the text column and, if the input has one, the id column."""

    text: str
    id: str | None = None

    def names(self) -> list[str]:
        return [self.text] if self.id is None else [self.id, self.text]


@dataclass(frozen=True)
class Chunk:
    """One unit of reading: rows ``first_row .. first_row + num_rows - 1`` of the whole input.

    Parquet chunks are one row group (``row_group``); JSONL chunks are the bytes ``start:end`` of
    ``path``, whose first line is ``first_line`` (for error messages).
    """

    path: str
    fmt: Format
    first_row: int
    num_rows: int
    row_group: int = 0
    start: int = 0
    end: int = 0
    first_line: int = 1


@dataclass(frozen=True)
class InputPlan:
    """The checked input: its files (sorted), their format, the columns to read and the chunks."""

    files: tuple[Path, ...]
    fmt: Format
    columns: Columns
    chunks: tuple[Chunk, ...]

    @property
    def num_rows(self) -> int:
        return sum(c.num_rows for c in self.chunks)


def resolve_inputs(spec: str | Path) -> tuple[list[Path], Format]:
    """The input files a folder, glob or single file names, sorted by path, and their one format.

    A folder is searched recursively for ``.parquet``/``.jsonl``/``.ndjson``/``.json`` files, skipping
    names that start with ``.`` or ``_`` (``_SUCCESS``, ``.crc``).

    Raises:
        DataError: nothing matches, the matches mix Parquet and JSONL, or a match has another suffix.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith((".", "_"))
        )
        where = f"The folder {text}"
    elif glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        where = f"The pattern {text!r}"
    elif path.is_file():
        files = [path]
        where = text
    else:
        raise DataError(f"{text} does not exist; give a folder, a glob such as 'data/*.parquet', or a file.")
    if not files:
        raise DataError(f"{where} matches no .parquet or .jsonl files.")
    formats = {p.suffix.lower() for p in files}
    unknown = sorted(formats - set(SUFFIXES))
    if unknown:
        raise DataError(
            f"{where} matches {', '.join(unknown)} files; batch prediction reads .parquet or .jsonl only."
        )
    kinds = {SUFFIXES[s] for s in formats}
    if len(kinds) > 1:
        raise DataError(f"{where} mixes Parquet and JSONL files; point it at one format.")
    return files, kinds.pop()


def _parquet_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}).") from None


def _jsonl_names(path: Path) -> list[str]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                row = _parse_line(raw, path, lineno)
                return [str(k) for k in row]
    raise DataError(f"{path} has no rows.")


def check_columns(path: Path, fmt: Format, text_column: str, id_column: str | None) -> Columns:
    """Check the first file's schema: the text column must exist; so must an explicitly named id column.

    With ``id_column=None`` the column ``id`` is kept when the file has one.
    """
    names = _parquet_names(path) if fmt == "parquet" else _jsonl_names(path)
    have = ", ".join(names) or "none"
    if text_column not in names:
        raise DataError(
            f"{path} has no column {text_column!r} (columns: {have}); name the text with --text-column."
        )
    if id_column is not None and id_column not in names:
        raise DataError(f"{path} has no id column {id_column!r} (columns: {have}).")
    if id_column is None and DEFAULT_ID_COLUMN in names and DEFAULT_ID_COLUMN != text_column:
        id_column = DEFAULT_ID_COLUMN
    if id_column in (text_column, ROW_COLUMN):
        raise ConfigError(f"The id column {id_column!r} must differ from the text column and {ROW_COLUMN!r}.")
    return Columns(text=text_column, id=id_column)


def _parquet_chunks(path: Path, first_row: int) -> list[Chunk]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}).") from None
    chunks = []
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if n:
            chunks.append(Chunk(str(path), "parquet", first_row, n, row_group=i))
            first_row += n
    return chunks


def _jsonl_chunks(path: Path, first_row: int, rows_per_chunk: int) -> list[Chunk]:
    """Cut a JSONL file at line boundaries every ``rows_per_chunk`` non-blank lines."""
    chunks: list[Chunk] = []
    offset = start = n = 0
    first_line = 1
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                if n == 0:
                    start, first_line = offset, lineno
                n += 1
            offset += len(raw)
            if n == rows_per_chunk:
                chunks.append(
                    Chunk(str(path), "jsonl", first_row, n, start=start, end=offset, first_line=first_line)
                )
                first_row += n
                n = 0
    if n:
        chunks.append(Chunk(str(path), "jsonl", first_row, n, start=start, end=offset, first_line=first_line))
    return chunks


def plan_inputs(
    spec: str | Path, *, text_column: str = "text", id_column: str | None = None, rows_per_chunk: int = 20_000
) -> InputPlan:
    """Resolve ``spec``, check the first file's columns and cut every file into ordered chunks.

    Raises:
        DataError: no matching files, mixed formats, a missing column, an unreadable file, no rows.
    """
    files, fmt = resolve_inputs(spec)
    columns = check_columns(files[0], fmt, text_column, id_column)
    chunks: list[Chunk] = []
    for path in files:
        first = chunks[-1].first_row + chunks[-1].num_rows if chunks else 0
        if fmt == "parquet":
            chunks += _parquet_chunks(path, first)
        else:
            chunks += _jsonl_chunks(path, first, rows_per_chunk)
    if not chunks:
        raise DataError(f"{spec} has no rows to classify.")
    return InputPlan(tuple(files), fmt, columns, tuple(chunks))


def _parse_line(raw: bytes, path: Path | str, lineno: int) -> dict[str, Any]:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}, line {lineno}: invalid JSON or not UTF-8 ({exc}).") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}, line {lineno}: expected a JSON object per line, got {type(row).__name__}.")
    return row


def _check_text(value: Any, where: str, column: str) -> str:
    if value is None:
        raise DataError(f"{where}: {column!r} is empty (null).")
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise DataError(f"{where}: {column!r} is empty; remove the row or fill it in.")
    return text


def _table(rows: list[int], ids: list[Any] | None, texts: list[str], columns: Columns) -> Any:
    import pyarrow as pa

    data: dict[str, Any] = {ROW_COLUMN: pa.array(rows, pa.int64())}
    if columns.id is not None:
        data[columns.id] = ids
    data[columns.text] = pa.array(texts, pa.string())
    return pa.table(data)


def _read_jsonl(chunk: Chunk, columns: Columns, batch_rows: int) -> Iterator[Any]:
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        lines = f.read(chunk.end - chunk.start).splitlines()
    texts: list[str] = []
    ids: list[Any] = []
    for lineno, raw in enumerate(lines, start=chunk.first_line):
        if not raw.strip():
            continue
        row = _parse_line(raw, chunk.path, lineno)
        where = f"{chunk.path}, line {lineno}"
        for col in columns.names():
            if col not in row:
                raise DataError(f"{where}: no column {col!r} (columns: {', '.join(map(str, row))}).")
        texts.append(_check_text(row[columns.text], where, columns.text))
        ids.append(row.get(columns.id) if columns.id else None)
    if len(texts) != chunk.num_rows:
        raise DataError(f"{chunk.path} changed while it was read; run again on a stable copy.")
    rows = list(range(chunk.first_row, chunk.first_row + chunk.num_rows))
    table = _table(rows, ids if columns.id else None, texts, columns)
    for start in range(0, table.num_rows, batch_rows):
        yield table.slice(start, batch_rows)


def _read_parquet(chunk: Chunk, columns: Columns, batch_rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(chunk.path)
    names = set(pf.schema_arrow.names)
    missing = [c for c in columns.names() if c not in names]
    if missing:
        raise DataError(f"{chunk.path}: no column {missing[0]!r} (columns: {', '.join(sorted(names))}).")
    row = chunk.first_row
    for batch in pf.iter_batches(
        batch_size=batch_rows, row_groups=[chunk.row_group], columns=columns.names()
    ):
        texts = [
            _check_text(v, f"{chunk.path} (input row {row + i})", columns.text)
            for i, v in enumerate(batch.column(columns.text).to_pylist())
        ]
        ids = batch.column(columns.id) if columns.id else None
        yield _table(list(range(row, row + len(texts))), ids, texts, columns)
        row += len(texts)


def read_chunk(chunk: Chunk, columns: Columns, *, batch_rows: int = 20_000) -> Iterator[Any]:
    """Read one chunk as pyarrow tables of at most ``batch_rows`` rows, with the columns ``row``, the id
    column (if any) and the text.

    Raises:
        DataError: a row without the column, an empty or null text, invalid JSON (with file and line).
    """
    if chunk.fmt == "parquet":
        yield from _read_parquet(chunk, columns, batch_rows)
    else:
        yield from _read_jsonl(chunk, columns, batch_rows)


__all__ = ["Chunk", "Columns", "InputPlan", "plan_inputs", "read_chunk", "resolve_inputs"]
