"""Requests in flight over loopback HTTP: the ``openai`` backend against a threaded stub server that holds
each request for a while and counts how many it holds at once (counts, not wall times, are asserted)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tutorloop.llm import StructuredJob, get_llm
from tutorloop.llm.openai_compat import OpenAICompatLLM
from tutorloop.types import LLMRequest, Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from curator_server import chat_reply, send_json  # noqa: E402
from test_loop_support import Curator  # noqa: E402

Reply = dict[str, Any] | tuple[int, dict[str, str], dict[str, Any]]


class Label(BaseModel):
    label: str


class Stub:
    """Answers ``answer(request, n)`` (n: the request's number, from 0) after ``delay(request)`` seconds;
    counts the requests it holds at once (``peak``, and ``peak_by`` per ``kind(request)``)."""

    def __init__(self, answer: Callable[[LLMRequest, int], Reply], delay: Callable[[LLMRequest], float]):
        self.answer, self.delay = answer, delay
        self.kind: Callable[[LLMRequest], str] = lambda r: ""
        self.lock = threading.Lock()
        self.active = self.peak = self.count = 0
        self.active_by: dict[str, int] = {}
        self.peak_by: dict[str, int] = {}
        self.log: list[tuple[str, str]] = []  # ("start"|"end", first user message)


def parse(body: dict[str, Any]) -> LLMRequest:
    fmt = body.get("response_format") or {}
    return LLMRequest(
        messages=tuple(Message(m["role"], m["content"]) for m in body["messages"]),
        json_schema=fmt.get("json_schema", {}).get("schema"),
        max_tokens=body.get("max_tokens", 0),
    )


def first_user(req: LLMRequest) -> str:
    return next(m.content for m in req.messages if m.role == "user")


@pytest.fixture
def serve() -> Iterator[Callable[[Stub], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(stub: Stub) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                req = parse(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                kind = stub.kind(req)
                with stub.lock:
                    n = stub.count
                    stub.count += 1
                    stub.active += 1
                    stub.peak = max(stub.peak, stub.active)
                    stub.active_by[kind] = stub.active_by.get(kind, 0) + 1
                    stub.peak_by[kind] = max(stub.peak_by.get(kind, 0), stub.active_by[kind])
                    stub.log.append(("start", first_user(req)))
                time.sleep(stub.delay(req))
                with stub.lock:
                    reply = stub.answer(req, n)
                    stub.active -= 1
                    stub.active_by[kind] -= 1
                    stub.log.append(("end", first_user(req)))
                status, headers, content = reply if isinstance(reply, tuple) else (200, {}, reply)
                ok = status == 200
                body = chat_reply(content, prompt_tokens=5, completion_tokens=3) if ok else content
                send_json(self, body, status, headers)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def echo(req: LLMRequest, n: int) -> Reply:
    return {"label": first_user(req)}


def backend(url: str, **kw: Any) -> OpenAICompatLLM:
    llm = get_llm("openai:stub", base_url=url, **({"cache": False} | kw))
    assert isinstance(llm, OpenAICompatLLM)
    return llm


@pytest.mark.parametrize("n", [1, 3, 8])
def test_n_requests_in_flight_never_more_and_replies_in_input_order(
    serve: Callable[[Stub], str], n: int
) -> None:
    stub = Stub(echo, lambda r: 0.2)
    llm = backend(serve(stub), max_concurrency=n)
    jobs = [StructuredJob(f"t{i}", Label) for i in range(3 * n + 2)]
    out = llm.structured_many(jobs, max_attempts=1)
    assert [getattr(o, "label", o) for o in out] == [f"t{i}" for i in range(len(jobs))]
    assert stub.peak == n and stub.count == len(jobs)


def test_a_slow_request_does_not_hold_back_the_next_ones(serve: Callable[[Stub], str]) -> None:
    """A sliding window: while the first request is held, the other slots keep taking new requests (a
    chunk of 4 would start only 3 others), and the replies still come out in input order."""
    stub = Stub(echo, lambda r: 1.5 if first_user(r) == "t0" else 0.05)
    llm = backend(serve(stub), max_concurrency=4)
    jobs = [StructuredJob(f"t{i}", Label) for i in range(12)]
    seen: list[int] = []
    for i, reply in llm.structured_iter(jobs, max_attempts=1):
        assert isinstance(reply, Label) and reply.label == f"t{i}"
        seen.append(i)
    assert seen == list(range(12))
    t0_end = stub.log.index(("end", "t0"))
    started_meanwhile = [m for ev, m in stub.log[:t0_end] if ev == "start" and m != "t0"]
    assert len(started_meanwhile) >= 6, stub.log
    assert stub.peak == 4


def test_lookahead_bounds_the_replies_held_behind_a_slow_head(serve: Callable[[Stub], str]) -> None:
    stub = Stub(echo, lambda r: 2.0 if first_user(r) == "t0" else 0.01)
    llm = backend(serve(stub), max_concurrency=2)
    out = list(llm.structured_iter([StructuredJob(f"t{i}", Label) for i in range(20)], lookahead=3))
    assert [i for i, _ in out] == list(range(20))
    t0_end = stub.log.index(("end", "t0"))
    started_meanwhile = [m for ev, m in stub.log[:t0_end] if ev == "start" and m != "t0"]
    assert len(started_meanwhile) == 2 * 3 - 1  # the window: lookahead x max_concurrency jobs, t0 included


def test_a_429_burst_is_backed_off_and_every_reply_arrives(serve: Callable[[Stub], str]) -> None:
    def answer(req: LLMRequest, n: int) -> Reply:
        if n < 8:  # the first 8 requests (all in flight at once) are refused
            return 429, {"Retry-After": "2"}, {"error": {"message": "slow down"}}
        return echo(req, n)

    stub = Stub(answer, lambda r: 0.1)
    sleeps: list[float] = []
    llm = backend(serve(stub), max_concurrency=8, sleep=sleeps.append)
    out = llm.structured_many([StructuredJob(f"t{i}", Label) for i in range(16)], max_attempts=1)
    assert [getattr(o, "label", o) for o in out] == [f"t{i}" for i in range(16)]
    assert sleeps == [2.0] * 8 and stub.count == 16 + 8 and stub.peak <= 8


def test_budget_stop_lets_the_requests_in_flight_finish(serve: Callable[[Stub], str]) -> None:
    stub = Stub(echo, lambda r: 0.1)
    llm = backend(serve(stub), max_concurrency=4)
    calls = 0

    def before_submit() -> None:
        nonlocal calls
        calls += 1
        if calls > 6:
            raise RuntimeError("budget spent")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="budget spent"):
        for i, _ in llm.structured_iter(
            [StructuredJob(f"t{i}", Label) for i in range(20)], before_submit=before_submit
        ):
            got.append(i)
    assert got == list(range(6)) and stub.count == 6


def test_the_loop_stores_each_reply_as_it_comes_in_while_a_slow_one_is_held(
    serve: Callable[[Stub], str],
) -> None:
    """``run_jobs`` (every LLM phase of the loop): jobs before a slow one are handled (stored) while it is
    still held, and the free slots keep starting new requests; handled in input order."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from tutorloop.loop.llm_tasks import run_jobs

    stub = Stub(echo, lambda r: 1.5 if first_user(r) == "t5" else 0.05)
    llm = backend(serve(stub), max_concurrency=4)

    @contextmanager
    def phase(description: str, total: int) -> Iterator[Callable[[], None]]:
        yield lambda: None

    checks: list[int] = []
    ctx = SimpleNamespace(
        llm=llm, budget=SimpleNamespace(check=lambda: checks.append(1)), ui=SimpleNamespace(phase=phase)
    )
    handled: list[tuple[str, bool]] = []

    def handle(item: str, reply: Any) -> None:
        with stub.lock:
            handled.append((item, ("end", "t5") in stub.log))
        assert reply.label == item

    items = [f"t{i}" for i in range(16)]
    run_jobs(ctx, [StructuredJob(t, Label) for t in items], items, "test", handle)  # type: ignore[arg-type]
    assert [h for h, _ in handled] == items
    assert [done for _, done in handled[:5]] == [False] * 5  # stored before the slow t5 came back
    t5_end = stub.log.index(("end", "t5"))
    assert sum(ev == "start" for ev, m in stub.log[:t5_end] if m != "t5") >= 9
    assert len(checks) == 4  # the budget is checked once per max_concurrency jobs started


# -- the loop end to end: curation (generation, verification) and pool labelling over HTTP -------------


def curator_stub(labels: list[str]) -> Stub:
    curator = Curator(labels)

    def answer(req: LLMRequest, n: int) -> Reply:
        return curator(req)

    stub = Stub(answer, lambda r: 0.05)
    stub.kind = lambda r: str((r.json_schema or {}).get("title", ""))[:5]  # "Texts", "Label", "Topic", ...
    return stub


def test_the_loop_keeps_n_requests_in_flight_when_curating(
    serve: Callable[[Stub], str], tmp_path: Path
) -> None:
    from tutorloop.loop import LoopConfig, Task, run

    stub = curator_stub(["positive", "negative"])
    llm = backend(serve(stub), max_concurrency=4)
    task = Task.from_labels("Classify movie reviews by sentiment", ["positive", "negative"])
    config = LoopConfig(max_rounds=0, verify_batch=1)
    run(task, llm=llm, classifier="tfidf", config=config, out=tmp_path / "r", progress=False)
    assert stub.peak == 4
    assert stub.peak_by["Texts"] == 4 and stub.peak_by["Label"] == 4  # generation, then blind verification


def test_the_loop_keeps_n_requests_in_flight_when_teacher_labelling_a_pool(
    serve: Callable[[Stub], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_loop_pool import KeywordEncoder, config, pool_task

    from tutorloop.classifiers import encoder as encoder_module
    from tutorloop.data.store import Store
    from tutorloop.loop import run

    monkeypatch.setattr(encoder_module, "get_encoder", lambda name=None: KeywordEncoder())
    stub = curator_stub(["positive", "negative"])
    llm = backend(serve(stub), max_concurrency=4)
    cfg = config(verify_batch=1, max_rounds=0)
    result = run(
        pool_task(tmp_path), llm=llm, classifier="tfidf", config=cfg, out=tmp_path / "r", progress=False
    )
    store = Store(result.run_dir / "store.sqlite")
    pool = [e for e in store.examples(status=None) if e["origin"] == "pool"]
    assert len(pool) >= 8 and all(store.job_result(f"pool:0:{n}") == 1 for n in range(len(pool)))
    assert stub.peak == 4 and stub.peak_by["Label"] == 4


# -- tutorloop label: a whole file of texts, resumable ------------------------------------------------


def pool_file(tmp_path: Path, n: int = 30) -> tuple[Path, list[str]]:
    texts = [f"Text {i}: {'I loved it' if i % 3 else 'an awful film'}" for i in range(n)]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path, texts


def expected(text: str) -> str:
    return "positive" if "loved" in text else "negative"


def test_label_file_labels_a_pool_in_order_with_n_in_flight(
    serve: Callable[[Stub], str], tmp_path: Path
) -> None:
    from tutorloop.loop import Task
    from tutorloop.scale.label import label_file

    stub = curator_stub(["positive", "negative"])
    llm = backend(serve(stub), max_concurrency=4)
    task = Task.from_labels("Classify movie reviews by sentiment", ["positive", "negative"])
    path, texts = pool_file(tmp_path)
    result = label_file(task, path, tmp_path / "out.jsonl", llm)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["index"], r["text"], r["label"]) for r in rows] == [
        (i, t, expected(t)) for i, t in enumerate(texts)
    ]
    assert (result.labelled, result.failed, result.resumed) == (30, 0, 0)
    assert stub.count == 30 and stub.peak == 4


def test_label_file_resumes_after_a_failure_paying_only_for_what_was_never_answered(
    serve: Callable[[Stub], str], tmp_path: Path
) -> None:
    from tutorloop.errors import LLMError
    from tutorloop.llm import ResponseCache
    from tutorloop.loop import Task
    from tutorloop.scale.label import label_file

    curator = Curator(["positive", "negative"])
    answered: list[str] = []

    def answer(req: LLMRequest, n: int) -> Reply:
        if "Text 9:" in first_user(req):
            return 400, {}, {"error": {"message": "bad request"}}  # not retried: the run stops there
        answered.append(first_user(req))
        return curator(req)

    stub = Stub(answer, lambda r: 0.3 if "Text 9:" in first_user(r) else 0.02)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    task = Task.from_labels("Classify movie reviews by sentiment", ["positive", "negative"])
    path, texts = pool_file(tmp_path)
    out = tmp_path / "out.jsonl"
    url = serve(stub)
    with pytest.raises(LLMError, match="bad request"):
        label_file(task, path, out, backend(url, max_concurrency=4, cache=cache), batch=3)
    written = out.read_text().splitlines()
    assert [json.loads(line)["index"] for line in written] == list(range(9))  # batches 0-2, before text 9
    assert len(answered) > 3  # requests after the failed one were answered but not written
    with out.open("a") as f:
        f.write('{"index": 9, "te')  # a torn last line, as a kill mid-write leaves it
    with pytest.raises(Exception, match="exists: continue it with --resume"):
        label_file(task, path, out, backend(url, cache=cache), batch=3)

    stub2 = curator_stub(["positive", "negative"])
    llm = backend(serve(stub2), max_concurrency=4, cache=cache)
    result = label_file(task, path, out, llm, batch=3, resume=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["index"], r["label"]) for r in rows] == [(i, expected(t)) for i, t in enumerate(texts)]
    assert result.resumed == 9 and result.labelled == 21
    # 10 requests of 3 texts: 3 written, the other answered ones from the cache, only the rest paid again
    assert result.ledger["cache_hits"] == len(answered) - 3
    assert stub2.count == 10 - len(answered)


def test_label_file_refuses_an_output_written_for_another_input(tmp_path: Path) -> None:
    from tutorloop.errors import DataError
    from tutorloop.llm import FakeLLM
    from tutorloop.loop import Task
    from tutorloop.scale.label import label_file

    task = Task.from_labels("Classify movie reviews by sentiment", ["positive", "negative"])
    path, _ = pool_file(tmp_path, 4)
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"index": 0, "text": "something else", "label": "positive"}) + "\n")
    with pytest.raises(DataError, match="written for another input"):
        label_file(task, path, out, FakeLLM(replies=[]), resume=True)


def test_label_command_over_loopback(serve: Callable[[Stub], str], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tutorloop.cli.main import cli

    stub = curator_stub(["positive", "negative"])
    url = serve(stub)
    task_file = tmp_path / "task.yaml"
    task_file.write_text("task: Classify movie reviews by sentiment\nlabels: [positive, negative]\n")
    path, texts = pool_file(tmp_path, 12)
    out = tmp_path / "labels.jsonl"
    args = ["label", str(task_file), "--input", str(path), "--output", str(out), "--llm", "openai:stub"]
    args += ["--base-url", url, "--max-concurrency", "3", "--requests-per-minute", "60000", "--no-cache"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["labelled"] == 12 and summary["calls"] == 12 and stub.peak == 3
    assert [json.loads(line)["label"] for line in out.read_text().splitlines()] == [
        expected(t) for t in texts
    ]
