"""The Ray Data engine of batch prediction: chunks are read, classified and written by an actor pool.

The pipeline is one Ray Data dataset::

    read_datasource(chunks) -> map_batches(_PredictAndWrite, compute=ActorPoolStrategy(size=N)) -> take_all

- *Read*: one read task per :class:`~tutorloop.scale.sources.Chunk` of the plan, yielding blocks of at
  most ``rows_per_file`` rows; every row carries its global input position ``row``.
- *Predict and write*: a callable class, so each actor of the pool loads the model once (one
  onnxruntime session or one scikit-learn pipeline per actor). Each call classifies one block,
  ``batch_size`` rows per predictor call, writes it as one part file named after its first row, and
  returns one small row (file name, row count) to the driver, which checks that every row was written.

Ray Data fuses the read into the actors (each actor task reads its chunk itself), so a run needs no
CPU besides the pool's and moves no prediction through the object store. A block that raises is
retried in place up to ``retries`` times (Ray Data's ``retried_map_errors``/``max_map_retries``); an
actor that dies is restarted by Ray and its block resubmitted. Either way the retry rewrites the same
part file.

This module imports Ray at the top: import it only after :func:`tutorloop.scale.predict.require_ray`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray.data import DataContext
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from .outputs import OutputFormat, predict_block
from .sources import Chunk, Columns, InputPlan, read_chunk


class _ChunkDatasource(Datasource):
    """One read task per planned chunk, in plan order."""

    def __init__(self, plan: InputPlan, block_rows: int) -> None:
        super().__init__()
        self._plan = plan
        self._block_rows = block_rows

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        return [
            ReadTask(
                functools.partial(_read, chunk, self._plan.columns, self._block_rows),
                BlockMetadata(
                    num_rows=chunk.num_rows, size_bytes=None, exec_stats=None, input_files=(chunk.path,)
                ),
                per_task_row_limit=per_task_row_limit,
            )
            for chunk in self._plan.chunks
        ]


def _read(chunk: Chunk, columns: Columns, block_rows: int) -> Iterator[Any]:
    return read_chunk(chunk, columns, batch_rows=block_rows)


class _PredictAndWrite:
    """The actor-pool callable: loads the model once per actor; each call classifies and writes a block."""

    def __init__(
        self,
        model_path: str,
        text_column: str,
        output: str,
        fmt: OutputFormat,
        batch_size: int,
        threads: int | None,
        loader: Callable[..., Any],
    ) -> None:
        self._model = loader(model_path, threads=threads)
        self._text_column = text_column
        self._output = Path(output)
        self._fmt = fmt
        self._batch_size = batch_size

    def __call__(self, block: Any) -> dict[str, list[Any]]:
        written = predict_block(
            self._model,
            block,
            text_column=self._text_column,
            output=self._output,
            fmt=self._fmt,
            batch_size=self._batch_size,
        )
        return {"file": [written["file"]], "rows": [written["rows"]]}


@contextmanager
def _retries(retries: int) -> Iterator[None]:
    """Retry a block that raised up to ``retries`` times (a Ray Data setting, restored afterwards)."""
    ctx = DataContext.get_current()
    saved = (ctx.retried_map_errors, ctx.max_map_retries)
    ctx.retried_map_errors = retries > 0
    ctx.max_map_retries = retries
    try:
        yield
    finally:
        ctx.retried_map_errors, ctx.max_map_retries = saved


def cluster_cpus() -> int:
    """The CPUs of the connected cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run(
    plan: InputPlan,
    model_path: Path,
    output: Path,
    fmt: OutputFormat,
    *,
    batch_size: int,
    concurrency: int,
    threads: int | None,
    retries: int,
    rows_per_file: int,
    loader: Callable[..., Any],
) -> list[dict[str, Any]]:
    """Run the pipeline on the connected Ray cluster; returns one ``{"file", "rows"}`` per part written."""
    with _retries(retries):
        # Ray Data fuses the read into the actors only if it neither splits the read's output
        # (override_num_blocks: one read task per chunk) nor re-batches it (batch_size=None: one call
        # per block the read yields). Unfused, read tasks would wait for CPUs the pool holds.
        source = _ChunkDatasource(plan, block_rows=rows_per_file)
        ds = ray.data.read_datasource(source, override_num_blocks=len(plan.chunks))
        ds = ds.map_batches(
            _PredictAndWrite,
            fn_constructor_kwargs={
                "model_path": str(model_path),
                "text_column": plan.columns.text,
                "output": str(output),
                "fmt": fmt,
                "batch_size": batch_size,
                "threads": threads,
                "loader": loader,
            },
            batch_size=None,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=1,
        )
        return [row for row in ds.take_all() if row["rows"]]
