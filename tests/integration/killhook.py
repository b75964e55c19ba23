"""``python -m killhook ARGS``: ``python -m tutorloop ARGS`` with test-only hooks, for the kill-point tests.

Nothing here is in the library: this module wraps library functions from outside, in the subprocess only.

* Every durable step the run takes is an *event*, appended (one ``write`` each, so a SIGKILL cannot lose
  it) to the file named by ``KILL_JOURNAL``: each committed store write (``add_examples:<job>``,
  ``set_verdicts:<job>``, ``finish_job:<key>``, ``finish_phase:<name>``, ``record_plan:<phase>``,
  ``save_round:<round>``, ``drop:<round>``, ``relabel:<round>``, ``set_meta:<key>``), each reply put in
  the response cache (``cache_put``: answered and cached, not yet in the ledger nor the store), each row
  of the run's ledger (``ledger_row``: counted, but the cache has not noted it yet), each step
  of the model swap (``rename:model->model.old``, ``rename:model.tmp->model``, ``rmtree:model.old``) and
  the run's last files (``write:rounds.jsonl``, ``write_report``).
* ``KILL_AT=LABEL#K`` SIGKILLs the process right after the K-th event called LABEL (K defaults to 1).
* Every request the backend really answers (not from the cache) is appended to ``KILL_CALLS`` as its
  cache key: what the run paid for.
* ``KILL_FAKE_ENCODER=1`` replaces the sentence encoder with the keyword encoder of
  ``tests/unit/test_loop_pool.py`` (the unlabelled-pool setting without a model download).
* ``KILL_MISLABEL=1`` makes the scripted backend write some texts with the other label's cue, chosen by
  a hash of the text (a pure function of the request, as a resumed run needs), so verification disputes
  some of them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import shutil
import signal
import sys
from collections.abc import Callable
from typing import Any

_counts: dict[str, int] = {}
_kill_at = os.environ.get("KILL_AT", "")
_journal = os.environ.get("KILL_JOURNAL")
_calls = os.environ.get("KILL_CALLS")


def _append(path: str | None, line: str) -> None:
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def event(label: str) -> None:
    """Record ``label``; die at once when it is the chosen kill point."""
    _counts[label] = _counts.get(label, 0) + 1
    _append(_journal, f"{label}#{_counts[label]}")
    if _kill_at and (_kill_at == f"{label}#{_counts[label]}" or (_kill_at == label and _counts[label] == 1)):
        os.kill(os.getpid(), signal.SIGKILL)


def _after(fn: Callable[..., Any], label: Callable[..., str]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        event(label(*args, **kwargs))
        return out

    return wrapper


def install() -> None:
    from tutorloop.data.store import Store
    from tutorloop.llm.cache import ResponseCache
    from tutorloop.llm.fake import FakeLLM
    from tutorloop.llm.ledger import Ledger
    from tutorloop.loop import runner

    store_labels: dict[str, Callable[..., str]] = {
        "add_examples": lambda self, rows, job=None, result=None: f"add_examples:{job}",
        "set_verdicts": lambda self, v, job=None, result=None, round_idx=None: f"set_verdicts:{job}",
        "finish_job": lambda self, key, result: f"finish_job:{key}",
        "finish_phase": lambda self, name, info=None: f"finish_phase:{name}",
        "record_plan": lambda self, r, actions, phase, info: f"record_plan:{phase}",
        "save_round": lambda self, r, record: f"save_round:{r}",
        "drop": lambda self, ids, reason, round_idx: f"drop:{round_idx}",
        "relabel": lambda self, i, label, reason, round_idx: f"relabel:{round_idx}",
        "set_meta": lambda self, key, value: f"set_meta:{key}",
    }
    for name, label in store_labels.items():
        setattr(Store, name, _after(getattr(Store, name), label))
    ResponseCache.put = _after(ResponseCache.put, lambda *a, **k: "cache_put")  # type: ignore[method-assign]
    record = Ledger.record

    def ledgered(self: Ledger, **row: Any) -> Any:
        entry = record(self, **row)
        if self.path is not None:  # the run's ledger.jsonl (not the LLM's own, in memory)
            event("ledger_row")
        return entry

    Ledger.record = ledgered  # type: ignore[method-assign]

    complete = FakeLLM._complete

    def paid(self: FakeLLM, request: Any) -> Any:
        response = complete(self, request)
        _append(_calls, request.key(self.backend, self.model))
        return response

    FakeLLM._complete = paid  # type: ignore[method-assign]

    model_dirs = {"model", "model.tmp", "model.old"}
    rename = pathlib.Path.rename

    def logged_rename(self: pathlib.Path, target: Any) -> Any:
        out = rename(self, target)
        if self.name in model_dirs:
            event(f"rename:{self.name}->{pathlib.Path(target).name}")
        return out

    pathlib.Path.rename = logged_rename  # type: ignore[method-assign]
    rmtree = shutil.rmtree

    def logged_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        existed = os.path.exists(path)
        rmtree(path, *args, **kwargs)
        if existed and pathlib.Path(path).name in model_dirs:
            event(f"rmtree:{pathlib.Path(path).name}")

    shutil.rmtree = logged_rmtree  # type: ignore[assignment]
    write = runner.atomic_write_text
    runner.atomic_write_text = _after(write, lambda path, text: f"write:{pathlib.Path(path).name}")
    from tutorloop.reports import render

    render.write_report = _after(render.write_report, lambda *a, **k: "write_report")

    if os.environ.get("KILL_FAKE_ENCODER") == "1":
        from test_loop_pool import KeywordEncoder  # tests/unit is on the subprocess's path

        from tutorloop.classifiers import encoder as encoder_module

        enc = KeywordEncoder()
        encoder_module.get_encoder = lambda name=None: enc  # type: ignore[assignment]
    if os.environ.get("KILL_MISLABEL") == "1":
        import scripted_backend

        factory = scripted_backend.factory

        def mislabelling(rest: str, **options: Any) -> Any:
            llm = factory(rest, **options)
            respond = llm._responder
            assert respond is not None

            def swapped(req: Any) -> Any:
                reply = respond(req)
                if isinstance(reply, dict) and "texts" in reply:
                    reply = {"texts": [_swap(t) for t in reply["texts"]]}
                return reply

            llm._responder = swapped
            return llm

        scripted_backend.factory = mislabelling


def _swap(text: str) -> str:
    """Every fifth text (by its hash) gets the other sentiment's cue words."""
    if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 5:
        return text
    pairs = {"wonderful": "awful", "loved": "hated", "brilliant": "boring"}
    pairs |= {v: k for k, v in pairs.items()}
    return " ".join(pairs.get(w.strip(",."), w.strip(",.")) + w[len(w.strip(",.")) :] for w in text.split())


if __name__ == "__main__":
    install()
    from tutorloop.cli.main import main

    sys.argv[0] = "tutorloop"
    main()
