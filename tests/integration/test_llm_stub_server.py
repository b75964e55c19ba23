"""OpenAICompatLLM against a tiny scripted HTTP server on 127.0.0.1: real sockets, real timeouts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import BaseModel

from tutorloop.errors import LLMConnectionError, LLMError
from tutorloop.llm.openai_compat import OpenAICompatLLM

OK = json.dumps(
    {
        "choices": [{"message": {"content": '{"label": "ok"}'}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
).encode()


class Label(BaseModel):
    label: str


class Stub:
    """Scripted answers: (status, headers, body, delay_s, cut) per request; records request headers."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes, float, bool]] = []
        self.seen: list[dict[str, str]] = []


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.seen.append(dict(self.headers))
            status, headers, body, delay, cut = state.script.pop(0)
            time.sleep(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) + (50 if cut else 0)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout)
            if cut:
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def make(base_url: str, sleeps: list[float], **kw: object) -> OpenAICompatLLM:
    return OpenAICompatLLM("stub", base_url=base_url, sleep=sleeps.append, **kw)


def test_retry_after_then_success_over_sockets(stub: tuple[Stub, str]) -> None:
    state, url = stub
    state.script = [
        (429, {"Retry-After": "3"}, b'{"error": {"message": "busy"}}', 0, False),
        (500, {}, b"oops", 0, False),
        (200, {}, OK, 0, False),
    ]
    sleeps: list[float] = []
    assert make(url, sleeps).structured("x", Label).label == "ok"
    assert sleeps[0] == 3.0 and len(sleeps) == 2 and len(state.seen) == 3
    assert "authorization" not in {k.lower() for k in state.seen[0]}  # loopback: no key needed or sent


def test_read_timeout_is_retried(stub: tuple[Stub, str]) -> None:
    state, url = stub
    state.script = [(200, {}, OK, 1.0, False), (200, {}, OK, 0, False)]
    sleeps: list[float] = []
    assert make(url, sleeps, timeout=0.3).structured("x", Label).label == "ok"
    assert len(sleeps) == 1


def test_body_cut_short_is_a_connection_error_after_retries(stub: tuple[Stub, str]) -> None:
    state, url = stub
    state.script = [(200, {}, OK[:40], 0, True) for _ in range(2)]
    with pytest.raises(LLMConnectionError, match="Cannot reach"):
        make(url, [], max_retries=1).structured("x", Label)


def test_truncated_json_with_honest_length_is_a_clear_error(stub: tuple[Stub, str]) -> None:
    state, url = stub
    state.script = [(200, {"Content-Type": "application/json"}, OK[:40], 0, False)]
    with pytest.raises(LLMError, match="truncated or non-JSON"):
        make(url, []).structured("x", Label)


def test_key_is_sent_in_the_authorization_header(
    stub: tuple[Stub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = stub
    monkeypatch.setenv("STUB_KEY", "sk-stub-123")
    state.script = [(200, {}, OK, 0, False)]
    make(url, [], api_key_env="STUB_KEY").structured("x", Label)
    assert state.seen[0]["Authorization"] == "Bearer sk-stub-123"
