"""Batch prediction over a folder or glob of Parquet/JSONL files: :func:`predict_dataset`.

Two engines write the same output (see :mod:`tutorloop.scale.outputs`): ``local`` classifies the chunks
one after another in this process; ``ray`` runs them on Ray Data (:mod:`tutorloop.scale.ray_engine`),
joining the cluster at ``address`` or starting a local one. Every check runs before any work starts.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from ..errors import ConfigError, DataError, TutorloopError
from .outputs import OutputFormat, check_format, predict_block, prepare_output
from .sources import InputPlan, plan_inputs, read_chunk

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")
RAY_INSTALL = 'pip install "tutorloop[ray]"'


@dataclass(frozen=True)
class BatchResult:
    """What a batch prediction wrote: ``rows`` predictions in ``files`` under ``output``."""

    engine: str
    rows: int
    files: tuple[Path, ...]
    output: Path
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def require_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or :class:`ConfigError` naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray without the [data] extra lacks pyarrow/pandas pieces
    except ImportError as exc:
        raise ConfigError(
            f"--engine ray needs Ray Data, which is not installed ({exc}). Install it with: {RAY_INSTALL}"
        ) from exc
    return ray


def check_address(address: str, *, timeout: float = 5.0) -> None:
    """Raise :class:`ConfigError` unless the Ray cluster address accepts a TCP connection.

    ``ray.init`` on an unreachable address retries for minutes; this fails in ``timeout`` seconds.
    ``auto`` (find a cluster started on this machine with ``ray start``) is left to Ray.

    >>> check_address("head-node")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: --address 'head-node' must look like HOST:PORT ...
    """
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(
            f"--address {address!r} must look like HOST:PORT (the head node's GCS, e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT (Ray Client) or auto."
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"Cannot reach a Ray cluster at {address} ({exc}). Check --address and that the head node "
            "runs `ray start --head`, or leave --address out to start a local cluster."
        ) from None


@contextmanager
def ray_session(address: str | None) -> Iterator[ModuleType]:
    """Connect to Ray for one run; shut down afterwards only a connection this function opened.

    An existing connection of this process (``ray.init`` called earlier) is used as it is.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if address:
            ray.init(address=address)
        else:
            ray.init(address="local", include_dashboard=False)
    except ConnectionError as exc:
        raise ConfigError(f"Could not connect to Ray at {address or 'a new local cluster'}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _tutorloop_cause(exc: BaseException) -> TutorloopError | None:
    """The tutorloop error behind a Ray task failure (Ray wraps it in RayTaskError/UserCodeException)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        # Ray re-raises a task's exception as a class deriving from both RayTaskError and the original
        # (defined in ray's modules, with the remote traceback in its message): keep the original
        if isinstance(err, TutorloopError) and type(err).__module__.startswith("tutorloop"):
            return err
        linked = (err.__cause__, err.__context__, getattr(err, "cause", None))
        todo += [e for e in linked if isinstance(e, BaseException)]
    return None


@dataclass(frozen=True)
class _Job:
    """One checked batch prediction, ready for an engine."""

    plan: InputPlan
    model_path: Path
    output: Path
    fmt: OutputFormat
    batch_size: int
    rows_per_file: int
    threads: int | None
    loader: Callable[..., Any]


def _run_local(job: _Job) -> list[dict[str, Any]]:
    model = job.loader(job.model_path, threads=job.threads)
    return [
        predict_block(
            model,
            table,
            text_column=job.plan.columns.text,
            output=job.output,
            fmt=job.fmt,
            batch_size=job.batch_size,
        )
        for chunk in job.plan.chunks
        for table in read_chunk(chunk, job.plan.columns, batch_rows=job.rows_per_file)
    ]


def _run_ray(
    job: _Job, *, concurrency: int | None, address: str | None, retries: int
) -> list[dict[str, Any]]:
    with ray_session(address):
        from . import ray_engine

        try:
            return ray_engine.run(
                job.plan,
                job.model_path.resolve(),
                job.output.resolve(),
                job.fmt,
                batch_size=job.batch_size,
                concurrency=concurrency or ray_engine.cluster_cpus(),
                threads=job.threads or 1,
                retries=retries,
                rows_per_file=job.rows_per_file,
                loader=job.loader,
            )
        except Exception as exc:
            cause = _tutorloop_cause(exc)
            if cause is None:
                raise
            try:  # a fresh error: the message without Ray's remote traceback around it
                clean = type(cause)(str(cause))
            except TypeError:
                clean = cause
            raise clean from exc


def _check_options(engine: str, batch_size: int, concurrency: int | None, retries: int) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int. Got {batch_size} instead.")
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"concurrency must be a positive int. Got {concurrency} instead.")
    if retries < 0:
        raise ConfigError(f"retries must be 0 or more. Got {retries} instead.")


def predict_dataset(
    model_path: str | Path,
    inputs: str | Path,
    output: str | Path,
    *,
    engine: Engine = "local",
    output_format: str = "parquet",
    text_column: str = "text",
    id_column: str | None = None,
    batch_size: int = 1024,
    concurrency: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    retries: int = 2,
    overwrite: bool = False,
    rows_per_chunk: int = 20_000,
    loader: Callable[..., Any] | None = None,
) -> BatchResult:
    """Classify every row of a folder or glob of Parquet/JSONL files and write the predictions to a folder.

    Output rows keep the input order and carry ``row`` (0-based position in the input, files in sorted
    path order), the id column when the input has one, the text, ``label`` and ``probabilities`` (one
    field per label). They go to part files ``output/part-<first row, 12 digits>.parquet`` (or
    ``.jsonl``), so sorted file names follow the input order. All checks run before any work starts.

    Args:
        model_path: a model directory written by ``tutorloop train`` or ``clf.save(...)``.
        inputs: a folder (searched recursively), a glob such as ``"data/*.parquet"``, or one file.
        output: the folder to write; it must not hold results already unless ``overwrite``.
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data; needs ``pip install "tutorloop[ray]"``).
        output_format: ``"parquet"`` or ``"jsonl"``.
        text_column: the column holding the texts.
        id_column: a column to carry through; by default ``id`` when the input has one.
        batch_size: rows per predictor call.
        concurrency: Ray actors, each with its own copy of the model (default: the cluster's CPUs).
        address: Ray cluster to join (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); default: start a
            local cluster, or use the connection this process already has.
        threads: onnxruntime threads per model copy (Ray default: 1, since the pool scales by actors).
        retries: times Ray retries a block that raised before the job fails.
        overwrite: delete old result files in ``output`` instead of refusing.
        rows_per_chunk: rows per read task and per part file at most (a Parquet row group is
            never shared between read tasks).
        loader: how each worker loads the model, called as ``loader(model_path, threads=...)``; default
            :func:`tutorloop.classifiers.load`. Must be picklable for the Ray engine.

    Returns:
        A :class:`BatchResult` with the row count, the files written and the wall time.

    Raises:
        ConfigError: an unknown option, Ray missing, an unreachable ``address``, an output folder that
            already holds results.
        DataError: no matching input files, a missing text column, a bad row (with file and line).
        ArtifactError: ``model_path`` is not a model.

    Example:
        >>> import json, tempfile, pathlib
        >>> from tutorloop.classifiers import make_classifier
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> texts, labels = ["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"]
        >>> clf = make_classifier("tfidf").fit(texts, labels)
        >>> model = clf.save(d / "model")
        >>> _ = (d / "in.jsonl").write_text(json.dumps({"id": "a", "text": "great"}) + "\\n")
        >>> result = predict_dataset(model, d / "in.jsonl", d / "out", output_format="jsonl")
        >>> json.loads(result.files[0].read_text())["label"]
        'pos'
    """
    from ..classifiers import load
    from ..classifiers.manifest import read_manifest
    from ..classifiers.registry import require

    _check_options(engine, batch_size, concurrency, retries)
    if engine == "local" and (address or concurrency):
        raise ConfigError("address and concurrency apply to engine='ray' only.")
    fmt = check_format(output_format)
    if engine == "ray":
        require_ray()
        if address:
            check_address(address)
    else:
        require(("pyarrow",), "io", "Batch prediction")
    plan = plan_inputs(inputs, text_column=text_column, id_column=id_column, rows_per_chunk=rows_per_chunk)
    read_manifest(Path(model_path))
    out = Path(output)
    prepare_output(out, overwrite=overwrite, inputs=plan.files)
    job = _Job(plan, Path(model_path), out, fmt, batch_size, rows_per_chunk, threads, loader or load)
    start = time.perf_counter()
    if engine == "local":
        written = _run_local(job)
    else:
        written = _run_ray(job, concurrency=concurrency, address=address, retries=retries)
    seconds = time.perf_counter() - start
    rows = sum(int(w["rows"]) for w in written)
    if rows != plan.num_rows:
        raise DataError(
            f"Wrote {rows} predictions for {plan.num_rows} input rows; did the input change during the run?"
        )
    files = tuple(sorted(out / str(w["file"]) for w in written))
    return BatchResult(engine, rows, files, out, seconds)


__all__ = ["ENGINES", "BatchResult", "check_address", "predict_dataset", "require_ray"]
