"""The server's prediction queue (``serve/batcher.py``): requests waiting together share one model call."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from tutorloop.serve.batcher import PredictionQueue


class Model:
    """Probabilities ``[len(text), 1]`` per text; records each call's texts and thread, and fails on "bad"."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None):
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.delay = delay
        self.gate = gate  # each call waits for it
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.calls.append(list(texts))
            self.threads.add(threading.get_ident())
            time.sleep(self.delay)
            if self.gate is not None:
                assert self.gate.wait(timeout=30)
            if "bad" in texts:
                raise ValueError("a bad text")
            return np.array([[float(len(t)), 1.0] for t in texts])
        finally:
            with self._lock:
                self.running -= 1


def rows(texts: list[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0] for t in texts]


def test_requests_waiting_together_share_one_call_and_each_gets_its_own_rows() -> None:
    model = Model()
    queue = PredictionQueue(model, max_texts=256)
    requests = [[f"text {i}" * (i + 1)] if i % 3 else [f"a{i}", f"bb{i}", f"ccc{i}"] for i in range(12)]

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(queue.predict_proba(r) for r in requests))

    got = asyncio.run(main())
    assert [g.tolist() for g in got] == [rows(r) for r in requests]
    assert model.calls == [[t for r in requests for t in r]]  # all twelve were waiting: one call


def test_a_call_takes_at_most_max_texts_and_a_bigger_request_goes_alone() -> None:
    model = Model()
    queue = PredictionQueue(model, max_texts=4)
    sizes = [1, 2, 1, 6, 3, 1]
    requests = [[f"r{i}t{k}" for k in range(n)] for i, n in enumerate(sizes)]

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(queue.predict_proba(r) for r in requests))

    got = asyncio.run(main())
    assert [g.tolist() for g in got] == [rows(r) for r in requests]
    assert [len(c) for c in model.calls] == [4, 6, 4]  # 1+2+1 | 6 alone | 3+1, in the order they came


def test_a_request_that_breaks_the_call_fails_alone() -> None:
    model = Model()
    queue = PredictionQueue(model, max_texts=256)

    async def main() -> list[object]:
        texts = [["good one"], ["bad"], ["fine", "too"]]
        return await asyncio.gather(*(queue.predict_proba(t) for t in texts), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(second, ValueError)
    assert first.tolist() == rows(["good one"]) and third.tolist() == rows(["fine", "too"])  # type: ignore[union-attr]
    assert model.calls == [["good one", "bad", "fine", "too"], ["good one"], ["bad"], ["fine", "too"]]


def test_the_model_runs_on_one_worker_thread_one_call_at_a_time() -> None:
    model = Model(delay=0.02)
    queue = PredictionQueue(model, max_texts=2)

    async def main() -> list[np.ndarray]:
        async def later(i: int) -> np.ndarray:
            await asyncio.sleep(0.005 * i)  # requests keep coming while the model runs
            return await queue.predict_proba([f"t{i}"])

        return await asyncio.gather(*(later(i) for i in range(20)))

    got = asyncio.run(main())
    assert [g.tolist() for g in got] == [rows([f"t{i}"]) for i in range(20)]
    assert model.most_at_once == 1 and len(model.threads) == 1
    assert threading.get_ident() not in model.threads  # never on the event loop's thread
    assert len(model.calls) < 20  # those that came in while a call ran were batched


def test_a_request_whose_client_went_away_is_not_sent_to_the_model() -> None:
    gate = threading.Event()
    model = Model(gate=gate)
    queue = PredictionQueue(model, max_texts=256)

    async def main() -> None:
        first = asyncio.ensure_future(queue.predict_proba(["first"]))
        while not model.calls:  # the model is busy with "first" until the gate opens
            await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(queue.predict_proba(["gone"]))
        kept = asyncio.ensure_future(queue.predict_proba(["kept"]))
        await asyncio.sleep(0.01)
        gone.cancel()  # its client went away while it waited
        gate.set()
        assert (await first).tolist() == rows(["first"]) and (await kept).tolist() == rows(["kept"])
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(main())
    assert model.calls == [["first"], ["kept"]]
