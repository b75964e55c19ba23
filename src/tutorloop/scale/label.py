"""Teacher labels for a whole file of texts (a pool of 100k texts and more), resumable.

:func:`label_file` sends the loop's own blind-labelling request (:data:`~tutorloop.loop.llm_tasks.LABEL`:
the same prompt, reply schema and limits as when the loop's teacher labels pool texts) for every
``batch`` texts of the input, with the backend's ``max_concurrency`` requests in flight
(:meth:`~tutorloop.llm.LLM.structured_iter`), and appends one JSON line per text to the output, in input
order, as the replies come in. Requests are rendered only when they are about to start, so memory holds
the texts and a bounded window of replies, not every request.

Resuming: the output is written in input order, so ``resume=True`` counts its complete lines (cutting off
a torn last line), checks that the last one is the input's text at that place, and continues after it.
The replies that were answered but not yet written are in the response cache and cost nothing again.
``tutorloop label TASK --input FILE --output OUT.jsonl [--resume]`` on the command line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from ..data.io import iter_texts
from ..errors import ConfigError, DataError, LLMOutputError
from ..llm.base import LLM, StructuredJob
from ..loop.llm_tasks import LABEL
from ..loop.task import Task


@dataclass
class LabelResult:
    """What :func:`label_file` did: texts labelled now, replies that never validated (label ``null``),
    texts found already labelled in the output (resumed), wall seconds, and the backend's ledger totals."""

    output: Path
    labelled: int
    failed: int
    resumed: int
    seconds: float
    ledger: dict[str, Any] = field(default_factory=dict)


class _Jobs(Sequence[StructuredJob]):
    """The labelling requests for ``texts`` in batches, rendered on demand."""

    def __init__(self, task: Task, texts: Sequence[str], batch: int, purpose: str):
        self.task, self.texts, self.batch, self.purpose = task, texts, batch, purpose

    def __len__(self) -> int:
        return -(-len(self.texts) // self.batch)

    @overload
    def __getitem__(self, i: int) -> StructuredJob: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[StructuredJob]: ...
    def __getitem__(self, i: int | slice) -> StructuredJob | Sequence[StructuredJob]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return LABEL.job(self.task, self.texts[i * self.batch : (i + 1) * self.batch], self.purpose)


def _done_lines(output: Path, texts: Sequence[str]) -> int:
    """Complete lines already in ``output`` (a torn last line is cut off), checked against ``texts``."""
    data = output.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) < len(data):
        with open(output, "r+b") as f:
            f.truncate(len(complete))
    lines = complete.decode("utf-8").splitlines()
    if len(lines) > len(texts):
        raise DataError(f"{output} has {len(lines)} rows but the input has only {len(texts)} texts.")
    if lines:
        try:
            last = json.loads(lines[-1])["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{output}, line {len(lines)}: not a row of tutorloop label ({exc}).") from exc
        if last != texts[len(lines) - 1]:
            raise DataError(
                f"{output}, line {len(lines)} is not the input's text {len(lines)}: was it written for "
                "another input file? Write to a new --output."
            )
    return len(lines)


def label_file(
    task: Task,
    input_path: str | Path,
    output: str | Path,
    llm: LLM,
    *,
    text_column: str = "text",
    batch: int = 1,
    resume: bool = False,
    on_done: Callable[[], None] | None = None,
) -> LabelResult:
    """Label every text of ``input_path`` (txt, JSONL, CSV or Parquet) with ``llm`` as the loop's teacher
    does, writing ``{"index", "text", "label"}`` JSON lines (``label`` null and an ``error`` when the reply
    never validated) to ``output`` in input order. ``resume=True`` continues an output that exists;
    otherwise an existing output is an error. ``batch``: texts per request (the loop's ``verify_batch``)."""
    if not 1 <= batch <= 32:
        raise ConfigError(f"batch must be an int in [1, 32]. Got {batch} instead.")
    output = Path(output)
    texts = [t for chunk in iter_texts(input_path, text_column) for t in chunk]
    done = 0
    if output.exists():
        if not resume:
            raise ConfigError(f"{output} exists: continue it with --resume, or write to another --output.")
        done = _done_lines(output, texts)
    output.parent.mkdir(parents=True, exist_ok=True)
    todo = texts[done:]
    jobs = _Jobs(task, todo, batch, "label-file")
    labelled = failed = 0
    start = time.perf_counter()
    with open(output, "a", encoding="utf-8") as f:
        for j, reply in llm.structured_iter(jobs, on_done=on_done):
            first = done + j * batch
            chunk = todo[j * batch : (j + 1) * batch]
            rows = []
            for k, text in enumerate(chunk):
                row: dict[str, Any] = {"index": first + k, "text": text}
                if isinstance(reply, LLMOutputError):
                    row |= {"label": None, "error": str(reply)[:300]}
                    failed += 1
                else:
                    row["label"] = reply.labels[k]  # type: ignore[attr-defined]
                    labelled += 1
                rows.append(json.dumps(row, ensure_ascii=False) + "\n")
            f.write("".join(rows))
            f.flush()
    return LabelResult(output, labelled, failed, done, time.perf_counter() - start, llm.ledger.summary())
