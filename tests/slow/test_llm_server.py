"""OpenAICompatLLM over real HTTP against llama.cpp's own OpenAI-compatible server on 127.0.0.1.

The fixture starts llama.cpp's HTTP server (xllamacpp ``Server`` with ``hostnames``/``port``) serving the
packaged SmolLM2-135M model on a random loopback port, protected by a random API key.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

from tutorloop import get_llm
from tutorloop.errors import LLMAuthError
from tutorloop.llm import StructuredJob
from tutorloop.llm.openai_compat import OpenAICompatLLM

pytestmark = pytest.mark.slow


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]


@pytest.fixture(scope="module")
def llama_server(smollm2_path: Path) -> Iterator[tuple[str, str]]:
    """(base_url, api_key) of a real llama.cpp server on 127.0.0.1."""
    xllamacpp = pytest.importorskip("xllamacpp")
    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_path)
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.n_ctx = 2048
    params.n_parallel = 1
    params.verbosity = 0
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port
    params.ui = False
    key = secrets.token_hex(16)
    params.api_keys = [key]
    server = xllamacpp.Server(params)
    address = server.listening_address
    assert address.startswith("http://127.0.0.1:")
    yield address + "/v1", key
    del server


def test_server_speaks_openai_chat_completions(llama_server: tuple[str, str]) -> None:
    base_url, key = llama_server
    body = {"model": "x", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
    r = httpx.post(
        base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion" and data["choices"][0]["message"]["role"] == "assistant"
    assert data["usage"]["completion_tokens"] > 0


def test_structured_reply_over_real_http(
    llama_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, key = llama_server
    monkeypatch.setenv("LOOPBACK_TEST_KEY", key)
    llm = get_llm("openai:smollm2", base_url=base_url, api_key_env="LOOPBACK_TEST_KEY", cache=False)
    assert isinstance(llm, OpenAICompatLLM)
    reply = llm.structured(
        [{"role": "user", "content": "Review: 'Wonderful, moving, I loved it.' Is it positive or negative?"}],
        Sentiment,
        max_tokens=48,
        max_attempts=1,
    )
    assert reply.label in ("positive", "negative")
    assert llm.native_schema  # the server accepted response_format
    summary = llm.ledger.summary()
    assert summary["calls"] == 1 and summary["prompt_tokens"] > 10 and summary["llm_seconds"] > 0


def test_concurrent_batch_over_real_http(
    llama_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, key = llama_server
    monkeypatch.setenv("LOOPBACK_TEST_KEY", key)
    llm = get_llm(
        "openai:smollm2", base_url=base_url, api_key_env="LOOPBACK_TEST_KEY", cache=False, max_concurrency=3
    )
    jobs = [
        StructuredJob(f"Review: '{t}'. Positive or negative?", Sentiment, max_tokens=48)
        for t in ("Great fun", "Dull and long", "A masterpiece")
    ]
    out = llm.structured_many(jobs, max_attempts=1)
    assert all(isinstance(o, Sentiment) for o in out)


def test_wrong_key_is_an_auth_error(llama_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    base_url, _ = llama_server
    monkeypatch.setenv("LOOPBACK_TEST_KEY", "wrong-key")
    llm = get_llm("openai:smollm2", base_url=base_url, api_key_env="LOOPBACK_TEST_KEY", cache=False)
    with pytest.raises(LLMAuthError, match="rejected the API key"):
        llm.structured("hi", Sentiment)
