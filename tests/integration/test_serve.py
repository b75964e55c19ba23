"""The HTTP server over real HTTP on loopback (uvicorn in a thread), including 4xx errors."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tutorloop.classifiers import make_classifier
from tutorloop.data.io import read_labelled

TINY = Path(__file__).parents[1] / "contract" / "tiny.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(model_dir: Path, **limits):
    import uvicorn

    from tutorloop.serve.app import TIMEOUT_KEEP_ALIVE_S, create_app

    port = _free_port()
    app = create_app(model_dir, **limits)
    server = uvicorn.Server(
        uvicorn.Config(  # as `tutorloop serve` runs it (cli/serve.py), but quiet
            app, host="127.0.0.1", port=port, timeout_keep_alive=TIMEOUT_KEEP_ALIVE_S, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module", params=["tfidf", "embed"])
def base_url(request, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("serve") / "model"
    make_classifier(request.param).fit(*read_labelled(TINY)).save(model_dir, metrics={"accuracy": 0.9})
    server, thread, url = _serve(model_dir, max_batch=8, max_text_chars=2000, max_body_bytes=50_000)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_health_and_info(base_url):
    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    info = httpx.get(f"{base_url}/info").json()
    assert info["labels"] == ["cooking", "sports", "tech", "weather"]
    assert info["metrics"] == {"accuracy": 0.9}
    assert info["kind"] in ("tfidf", "embed")
    assert info["limits"]["max_batch"] == 8


def test_predict_one_and_many(base_url):
    one = httpx.post(f"{base_url}/predict", json={"text": "Heavy snow and strong winds tonight"}).json()
    assert one["label"] == "weather"
    assert set(one["predictions"][0]["probabilities"]) == {"cooking", "sports", "tech", "weather"}
    assert sum(one["predictions"][0]["probabilities"].values()) == pytest.approx(1.0)
    many = httpx.post(
        f"{base_url}/predict", json={"texts": ["Bake the bread for an hour", "The striker scored a goal"]}
    ).json()
    assert [p["label"] for p in many["predictions"]] == ["cooking", "sports"]
    assert many["label"] is None


def test_openapi_docs(base_url):
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert "/predict" in spec["paths"]
    assert httpx.get(f"{base_url}/docs").status_code == 200


@pytest.mark.parametrize(
    "payload,status,error",
    [
        ({"text": ""}, 422, "ValidationError"),
        ({"text": "   "}, 422, "ValidationError"),
        ({"texts": []}, 422, "ValidationError"),
        ({}, 422, "ValidationError"),
        ({"text": "a", "texts": ["b"]}, 422, "ValidationError"),
        ({"text": 5}, 422, "ValidationError"),
        ({"text": "a", "extra": 1}, 422, "ValidationError"),
        ({"texts": ["x"] * 9}, 413, "BatchTooLarge"),
        ({"text": "x" * 2001}, 413, "TextTooLong"),
        ({"text": "x" * 60_000}, 413, "PayloadTooLarge"),
    ],
)
def test_bad_requests_get_json_4xx_and_server_stays_up(base_url, payload, status, error):
    r = httpx.post(f"{base_url}/predict", json=payload)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert httpx.get(f"{base_url}/health").status_code == 200


def test_malformed_json_and_non_utf8_body(base_url):
    headers = {"content-type": "application/json"}
    r = httpx.post(f"{base_url}/predict", content=b'{"text": "caf\xe9"}', headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "BadRequest"
    r = httpx.post(f"{base_url}/predict", content=b"{not json", headers=headers)
    assert r.status_code == 422 and r.json()["error"] == "ValidationError"
    assert httpx.get(f"{base_url}/nope").json()["error"] == "NotFound"
    assert httpx.post(f"{base_url}/predict", json={"text": "tennis final"}).status_code == 200


def test_chunked_oversized_body_is_refused(base_url):
    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    r = httpx.post(f"{base_url}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.get(f"{base_url}/health").status_code == 200


def test_chunked_body_is_refused_at_the_limit_without_reading_the_rest(tmp_path):
    """At the ASGI level: the guard stops reading a chunked upload at the limit, so memory stays bounded."""
    import asyncio

    from tutorloop.serve.app import create_app

    make_classifier("tfidf").fit(*read_labelled(TINY)).save(tmp_path / "model")
    app = create_app(tmp_path / "model", max_body_bytes=50_000)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }
    chunks_read, sent = 0, []

    async def receive():  # a 10 MB upload in 10 kB chunks
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 10_000, "more_body": chunks_read < 1000}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and b"PayloadTooLarge" in sent[1]["body"]
    assert chunks_read == 6  # 60 kB read, the first chunk over 50 kB; not the 10 MB


def test_parallel_requests_get_the_predictions_of_sequential_ones(concurrent_url):
    """The server gives requests that wait together one model call (tfidf, static): each still gets the
    probabilities it gets alone. The ONNX kinds' rows depend on their batch (up to 0.02 for embed), so
    they get a call per request, and the same answer too."""
    from concurrent.futures import ThreadPoolExecutor

    url, kind = concurrent_url
    texts, _ = read_labelled(TINY)
    bodies = [{"text": t} for t in texts] + [{"texts": texts[i : i + 3]} for i in range(0, len(texts), 3)]
    bodies = bodies * 2  # 2 x (every text alone, then in threes)

    def post(body):
        with httpx.Client() as client:  # one connection each: all in flight together
            r = client.post(f"{url}/predict", json=body)
        assert r.status_code == 200, r.text
        return [[p["label"], list(p["probabilities"].values())] for p in r.json()["predictions"]]

    alone = [post(b) for b in bodies]
    with ThreadPoolExecutor(max_workers=32) as pool:
        together = list(pool.map(post, bodies))
    assert [[p[0] for p in r] for r in together] == [[p[0] for p in r] for r in alone]
    for got, want in zip(together, alone, strict=True):
        for (_, g), (_, w) in zip(got, want, strict=True):
            assert g == pytest.approx(w, abs=1e-9, rel=0), kind  # float noise at most (static: 1e-16)


@pytest.fixture(scope="module", params=["tfidf", "embed", "static"])
def concurrent_url(request, tmp_path_factory):
    from tutorloop.classifiers import registry

    for module in registry.get(request.param).requires:
        pytest.importorskip(module, reason=f"the {request.param!r} classifier needs its extra")
    params = {"vocab_limit": 3000} if request.param == "static" else {}  # as the contract tests distil it
    model_dir = tmp_path_factory.mktemp(f"serve-{request.param}") / "model"
    make_classifier(request.param, **params).fit(*read_labelled(TINY)).save(model_dir)
    server, thread, url = _serve(model_dir)
    yield url, request.param
    server.should_exit = True
    thread.join(timeout=10)


def test_an_idle_connection_outlives_the_clients_keep_alive(tfidf_model):
    """The server keeps an idle connection longer than httpx does (5 s), so the client closes it first:
    a server that closes at 5 s too (uvicorn's default) races a client reusing it, which then gets a
    connection reset (docs/reliability.md, section 7)."""
    from tutorloop.serve.app import TIMEOUT_KEEP_ALIVE_S

    assert TIMEOUT_KEEP_ALIVE_S > httpx.Limits().keepalive_expiry
    server, thread, url = _serve(tfidf_model)
    port = int(url.rsplit(":", 1)[1])
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for _ in range(2):  # the same connection, used again after 6 idle seconds
                sock.sendall(request)
                reply = b""
                while not reply.endswith(b'{"status":"ok"}'):
                    chunk = sock.recv(4096)
                    assert chunk, "the server closed the connection"
                    reply += chunk
                assert reply.startswith(b"HTTP/1.1 200")
                time.sleep(6)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_serve_imports_no_llm_route():
    import ast

    for path in (Path(__file__).parents[2] / "src/tutorloop/serve").glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
        assert modules <= {"classifiers.loader", "errors", "types", "batcher"}, path


KEY = "sk-serve-test-5f2c9e"  # a made-up key: the tests check it never leaves the request headers


@pytest.fixture(scope="module")
def tfidf_model(tmp_path_factory) -> Path:
    model_dir = tmp_path_factory.mktemp("serve-tfidf") / "model"
    make_classifier("tfidf").fit(*read_labelled(TINY)).save(model_dir)
    return model_dir


def test_a_prediction_past_the_request_timeout_gets_503_and_its_queued_texts_are_dropped(
    tfidf_model, monkeypatch
):
    """The model is held on the first request's call: that request and one queued behind it both get 503
    with Retry-After once the timeout passes; the queued one's texts never reach the model, and the server
    answers the next request normally once the model is free."""
    from concurrent.futures import ThreadPoolExecutor

    from tutorloop.serve import app as app_module

    real_load, release, seen = app_module.load, threading.Event(), []

    def held_load(path, **kwargs):
        model = real_load(path, **kwargs)
        proba = model.predict_proba

        def held(texts):
            seen.append(list(texts))
            release.wait(20)
            return proba(texts)

        model.predict_proba = held
        return model

    monkeypatch.setattr(app_module, "load", held_load)
    server, thread, url = _serve(tfidf_model, request_timeout_s=0.5)
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, f"{url}/predict", json={"text": "first"}, timeout=20)
            deadline = time.time() + 10
            while not seen:
                assert time.time() < deadline, "the first request never reached the model"
                time.sleep(0.02)
            second = pool.submit(httpx.post, f"{url}/predict", json={"text": "second"}, timeout=20)
            answers = [first.result(), second.result()]
        assert [r.status_code for r in answers] == [503, 503]
        assert all(r.json()["error"] == "Timeout" and r.headers["retry-after"] == "1" for r in answers)
        release.set()
        again = httpx.post(f"{url}/predict", json={"text": "snow"}, timeout=20)
        assert again.status_code == 200, again.text
        assert seen == [["first"], ["snow"]]  # "second" was given up before the model got to it
        assert httpx.get(f"{url}/info").json()["limits"]["request_timeout_s"] == 0.5
    finally:
        release.set()
        server.should_exit = True
        thread.join(timeout=10)
    with pytest.raises(Exception, match="request_timeout_s must be a positive number"):
        app_module.create_app(tfidf_model, request_timeout_s=0)


@pytest.fixture(scope="module")
def keyed_url(tfidf_model):
    server, thread, url = _serve(tfidf_model, max_body_bytes=50_000, api_key=KEY)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_api_key_guards_every_route_but_health(keyed_url):
    text = {"text": "The striker scored a goal"}
    missing = httpx.post(f"{keyed_url}/predict", json=text)
    assert missing.status_code == 401 and missing.json()["error"] == "Unauthorized"
    assert missing.headers["www-authenticate"] == 'Bearer realm="tutorloop"'
    for headers in (
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Bearer {KEY[:-1]}"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": b"Bearer caf\xe9"},  # not ASCII: compared as bytes, no 500
        {"X-API-Key": "nope"},
    ):
        wrong = httpx.post(f"{keyed_url}/predict", json=text, headers=headers)
        assert wrong.status_code == 401, headers
        assert wrong.json()["error"] == "Unauthorized" and KEY not in wrong.text
    wrong = httpx.post(f"{keyed_url}/predict", json=text, headers={"Authorization": "Bearer nope"})
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    for headers in (
        {"Authorization": f"Bearer {KEY}"},
        {"authorization": f"bearer {KEY}"},
        {"X-API-Key": KEY},
    ):
        ok = httpx.post(f"{keyed_url}/predict", json=text, headers=headers)
        assert ok.status_code == 200 and ok.json()["label"] == "sports", headers
    # the key is checked before the body is read or measured: no 413 (or buffering) for strangers
    big = httpx.post(f"{keyed_url}/predict", json={"text": "x" * 60_000})
    assert big.status_code == 401
    for path in ("/info", "/docs", "/openapi.json", "/nope"):
        assert httpx.get(f"{keyed_url}{path}").status_code == 401, path
    info = httpx.get(f"{keyed_url}/info", headers={"Authorization": f"Bearer {KEY}"})
    assert info.status_code == 200 and info.json()["auth"] == "api-key" and KEY not in info.text
    assert httpx.get(f"{keyed_url}/health").json() == {"status": "ok"}  # liveness probes need no key


@contextlib.contextmanager
def _served(model: Path, log: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``tutorloop serve MODEL OPTIONS`` in a subprocess, output to ``log``; yields its URL once healthy."""
    import os
    import subprocess
    import sys

    port = _free_port()
    src = str(Path(__file__).parents[2] / "src")
    cmd = [sys.executable, "-m", "tutorloop", "serve", str(model), "--port", str(port), *options]
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": src}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=out)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.time() < deadline, "server did not start"
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_serve_cli_reads_the_key_from_the_environment_and_never_logs_it(tfidf_model, tmp_path):
    log = tmp_path / "serve.log"
    with _served(tfidf_model, log, "--api-key-env", "SERVE_KEY", env={"SERVE_KEY": KEY}) as url:
        assert httpx.post(f"{url}/predict", json={"text": "snow"}).status_code == 401
        bad = httpx.post(f"{url}/predict", json={"text": "snow"}, headers={"X-API-Key": KEY + "!"})
        assert bad.status_code == 401
        good = httpx.post(f"{url}/predict", json={"text": "snow"}, headers={"Authorization": f"Bearer {KEY}"})
        assert good.status_code == 200
        assert KEY not in httpx.get(f"{url}/info", headers={"X-API-Key": KEY}).text
    text = log.read_text()
    assert "SERVE_KEY" in text and '"POST /predict HTTP/1.1" 401' in text  # the access log ran
    assert KEY not in text


def test_serve_cli_limit_concurrency_answers_503_beyond_the_limit(tfidf_model, tmp_path):
    """With --limit-concurrency 2 (uvicorn counts the arriving connection too), one open keep-alive
    connection fills the server: a second client is turned away with 503 at once instead of queueing, and
    is served once the first has closed."""
    with _served(tfidf_model, tmp_path / "serve.log", "--limit-concurrency", "2") as url:
        with httpx.Client() as first:
            assert first.post(f"{url}/predict", json={"text": "snow"}).status_code == 200
            assert httpx.post(f"{url}/predict", json={"text": "snow"}).status_code == 503
        deadline = time.time() + 10
        while httpx.post(f"{url}/predict", json={"text": "snow"}).status_code == 503:
            assert time.time() < deadline, "still 503 after the first client closed"
            time.sleep(0.1)


def test_serve_cli_refuses_an_unset_key_variable_and_warns_off_loopback(tfidf_model, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from tutorloop.cli.main import cli
    from tutorloop.serve import app as serve_app
    from tutorloop.serve.app import REQUEST_TIMEOUT_S, TIMEOUT_KEEP_ALIVE_S

    started: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    made: list[dict] = []
    real_create_app = serve_app.create_app

    def create_app(model_path, **kw):
        made.append(kw)
        return real_create_app(model_path, **kw)

    monkeypatch.setattr(serve_app, "create_app", create_app)
    monkeypatch.delenv("SERVE_KEY", raising=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", str(tfidf_model), "--api-key-env", "SERVE_KEY"])
    assert r.exit_code != 0 and "SERVE_KEY is not set" in str(r.exception) and not started
    r = runner.invoke(cli, ["serve", str(tfidf_model)])
    assert r.exit_code == 0 and started[-1]["host"] == "127.0.0.1" and "Warning" not in r.output
    assert started[-1]["timeout_keep_alive"] == TIMEOUT_KEEP_ALIVE_S  # not uvicorn's 5 s
    assert started[-1]["limit_concurrency"] is None
    assert made[-1]["request_timeout_s"] == REQUEST_TIMEOUT_S
    options = ["--timeout-keep-alive", "9", "--limit-concurrency", "4", "--request-timeout", "2.5"]
    r = runner.invoke(cli, ["serve", str(tfidf_model), *options])
    assert r.exit_code == 0 and started[-1]["timeout_keep_alive"] == 9
    assert started[-1]["limit_concurrency"] == 4 and made[-1]["request_timeout_s"] == 2.5
    r = runner.invoke(cli, ["serve", str(tfidf_model), "--request-timeout", "0"])  # 0: no limit
    assert r.exit_code == 0 and made[-1]["request_timeout_s"] is None
    r = runner.invoke(cli, ["serve", str(tfidf_model), "--request-timeout", "-1"])
    assert r.exit_code == 2 and "--request-timeout" in r.output
    r = runner.invoke(cli, ["serve", str(tfidf_model), "--host", "0.0.0.0"])
    assert r.exit_code == 0 and started[-1]["host"] == "0.0.0.0"
    assert "Warning: serving on 0.0.0.0" in r.output and "--api-key-env" in r.output
    monkeypatch.setenv("SERVE_KEY", KEY)
    r = runner.invoke(cli, ["serve", str(tfidf_model), "--host", "0.0.0.0", "--api-key-env", "SERVE_KEY"])
    assert r.exit_code == 0 and "Warning" not in r.output and KEY not in r.output


def _load_driver():
    """``benchmarks/serve_load.py`` (its bounded async client), imported by path."""
    import importlib.util
    import sys

    path = Path(__file__).parents[2] / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["serve_load"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_300_requests_64_in_flight_with_bad_bodies_drop_nothing(tfidf_model):
    """Not timed: every request is answered, good ones 200, bad ones their 4xx, and the server lives on."""
    sl = _load_driver()
    texts, _ = read_labelled(TINY)
    bodies = sl.payloads(texts, 300, bad_every=5, max_body_bytes=20_000, max_text_chars=2000)
    kinds = {kind for kind, _ in bodies}
    assert kinds == set(sl.EXPECTED), kinds  # every bad kind is in the mix
    server, thread, url = _serve(tfidf_model, max_text_chars=2000, max_body_bytes=20_000, api_key=KEY)
    try:
        outcomes, _ = sl.run_load(url, bodies, concurrency=64, headers={"X-API-Key": KEY})
        assert len(outcomes) == 300
        assert [o.kind for o in outcomes] == [k for k, _ in bodies]
        dropped = [o for o in outcomes if o.status is None]
        assert not dropped, dropped[:3]
        statuses = {(o.kind, o.status) for o in outcomes}
        assert statuses == set(sl.EXPECTED.items()), statuses
        labels = {"cooking", "sports", "tech", "weather"}
        for o in outcomes:
            if o.status == 200:
                assert {p["label"] for p in o.body["predictions"]} <= labels
                assert len(o.body["predictions"]) == (8 if o.kind == "batch" else 1)
            else:
                assert set(o.body) == {"error", "detail"}, o.body  # the app's JSON errors, never a bare 4xx
        summary = sl.summarize(outcomes, 1.0)
        assert summary["dropped"] == summary["server_errors_5xx"] == summary["unexpected"] == 0
        assert sl.still_serving(url, headers={"X-API-Key": KEY})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
