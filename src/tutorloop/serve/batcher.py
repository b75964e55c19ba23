"""The server's prediction queue: one model call at a time, on the texts of every request waiting.

Requests put their texts in the queue and wait; one worker thread calls the model on everything waiting
(at most ``max_texts`` texts a call, a bigger request alone) and hands each request its rows. Why:

* the model's fixed cost per call (scikit-learn's input checks, an ONNX session run) is paid once per
  batch, not once per request: a tfidf model costs several milliseconds for one text and a fraction of a
  millisecond per text in a batch;
* the event loop never runs the model, so it keeps reading requests and writing responses, and the model
  does not compete for the GIL with a pool of request threads (FastAPI runs a sync endpoint on up to 40);
* the model is never called from two threads at once, so an onnxruntime session or a tokenizer need not
  be thread-safe.

Sharing a call is only right when a text's row does not depend on the rest of the call: true for the
tfidf and static kinds, not for the ONNX encoders (embed moved a probability by up to 0.02 between a
text alone and in a batch), so the server gives those ``max_texts=1``: a call per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Proba = Callable[[list[str]], np.ndarray]


class PredictionQueue:
    """``await queue.predict_proba(texts)``: rows of ``proba(all waiting texts)``, one call at a time.

    >>> import asyncio, numpy as np
    >>> queue = PredictionQueue(lambda texts: np.array([[len(t), 0.0] for t in texts]), max_texts=8)
    >>> async def two_requests():
    ...     return await asyncio.gather(queue.predict_proba(["ab"]), queue.predict_proba(["abc", "d"]))
    >>> [r[:, 0].tolist() for r in asyncio.run(two_requests())]
    [[2.0], [3.0, 1.0]]
    >>> queue.calls  # both were waiting when the worker started: one model call
    1
    """

    def __init__(self, proba: Proba, *, max_texts: int):
        self._proba = proba
        self._max_texts = max(1, int(max_texts))
        self._waiting: deque[tuple[list[str], asyncio.Future[np.ndarray]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tutorloop-predict")
        self.calls = 0  # model calls made (for tests and curiosity)

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The model's probabilities for ``texts`` (raises what the model raised for them)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append((list(texts), future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._work())
        return await future

    async def _work(self) -> None:
        while self._waiting:
            batch = self._take()
            try:
                await self._answer(batch)
            except BaseException:  # cancelled (the server stops): no request waits forever
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise

    def _take(self) -> list[tuple[list[str], asyncio.Future[np.ndarray]]]:
        """The requests first in line, up to ``max_texts`` texts (at least one request, however big)."""
        batch = [self._waiting.popleft()]
        n = len(batch[0][0])
        while self._waiting and n + len(self._waiting[0][0]) <= self._max_texts:
            n += len(self._waiting[0][0])
            batch.append(self._waiting.popleft())
        return [(texts, future) for texts, future in batch if not future.done()]  # done: client gone

    async def _answer(self, batch: list[tuple[list[str], asyncio.Future[np.ndarray]]]) -> None:
        if not batch:
            return
        try:
            proba = await self._call([t for texts, _ in batch for t in texts])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
                return
            for texts, future in batch:  # one request broke the call: each alone, so only it fails
                try:
                    _settle(future, await self._call(texts))
                except Exception as alone:
                    _settle(future, exc=alone)
            return
        start = 0
        for texts, future in batch:
            _settle(future, proba[start : start + len(texts)])
            start += len(texts)

    async def _call(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._proba, texts)


def _settle(
    future: asyncio.Future[np.ndarray], result: np.ndarray | None = None, *, exc: Exception | None = None
) -> None:
    if future.done():  # the request was cancelled (its client went away) while the model ran
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
