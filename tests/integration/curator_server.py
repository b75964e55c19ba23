"""An OpenAI-compatible chat server on 127.0.0.1 for whole-run tests, answering from the keyword curator of
``test_loop_support``; it records each request's ``Authorization`` header, and can die for good after a
number of requests (its listening socket closed: later connections are refused)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_loop_support import Curator  # noqa: E402

from tutorloop.types import LLMRequest, Message  # noqa: E402


def chat_reply(content: Any, *, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """An OpenAI chat-completions body whose message is ``content`` as JSON."""
    return {
        "id": "chatcmpl-stub",
        "model": "stub",
        "choices": [{"message": {"content": json.dumps(content)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


def send_json(
    handler: BaseHTTPRequestHandler, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> None:
    """Answer the handler's request with ``body`` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@dataclass
class Served:
    """What a :func:`curator_server` saw: its URL, each request's ``Authorization`` header, how many
    requests it answered, and whether it has died."""

    url: str
    auth: list[str] = field(default_factory=list)
    answered: int = 0
    dead: threading.Event = field(default_factory=threading.Event)


@contextmanager
def curator_server(labels: list[str], *, die_after: int | None = None) -> Iterator[Served]:
    """Serve until the block ends; with ``die_after=N`` the server answers N requests, then drops the
    next one unanswered and closes its socket for good."""
    curator = Curator(labels)
    lock = threading.Lock()
    served: Served

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            schema = body["response_format"]["json_schema"]["schema"]
            req = LLMRequest(
                messages=tuple(Message(m["role"], m["content"]) for m in body["messages"]),
                json_schema=schema,
                sample_index=body.get("seed", 0) % 1_000_003,
            )
            with lock:
                if served.dead.is_set() or (die_after is not None and served.answered >= die_after):
                    if not served.dead.is_set():
                        served.dead.set()
                        threading.Thread(target=_die, daemon=True).start()
                    self.close_connection = True  # this request gets no reply
                    return
                served.auth.append(self.headers.get("Authorization", ""))
                content = {"label": labels[0]} if schema.get("title") == "_CheckReply" else curator(req)
                served.answered += 1
            send_json(self, chat_reply(content, prompt_tokens=10, completion_tokens=5))

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def _die() -> None:
        server.shutdown()
        server.server_close()

    served = Served(f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        if not served.dead.is_set():
            server.shutdown()
            server.server_close()
