"""OpenAICompatLLM against httpx.MockTransport: request shape, retries, Retry-After, errors, fallbacks."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest
from pydantic import BaseModel

from tutorloop.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
)
from tutorloop.llm.openai_compat import OpenAICompatLLM, is_loopback, parse_retry_after

URL = "https://llm.example/v1"


class Label(BaseModel):
    label: str


def ok(content: str = '{"label": "spam"}', **extra: object) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5},
            **extra,
        },
    )


class Script:
    """A MockTransport handler answering from a list of responses (or exceptions); records requests."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-unit-test-key")
    return "sk-unit-test-key"


def make(script: Script, sleeps: list[float] | None = None, **kw: object) -> OpenAICompatLLM:
    sleeps = sleeps if sleeps is not None else []
    return OpenAICompatLLM(
        "model-x",
        base_url=URL,
        api_key_env="TEST_LLM_KEY",
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        rng=random.Random(0),
        **kw,
    )


def test_request_shape_key_header_and_native_schema(key: str) -> None:
    script = Script(ok())
    llm = make(script)
    assert llm.structured([{"role": "user", "content": "Is this spam?"}], Label).label == "spam"
    req = script.requests[0]
    assert str(req.url) == URL + "/chat/completions"
    assert req.headers["authorization"] == f"Bearer {key}"
    body = script.bodies()[0]
    assert body["model"] == "model-x" and body["messages"] == [{"role": "user", "content": "Is this spam?"}]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == Label.model_json_schema()
    assert llm.ledger.summary()["prompt_tokens"] == 11 and llm.ledger.summary()["completion_tokens"] == 5


def test_429_honours_retry_after_via_injected_sleep(key: str) -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}), ok()
    )
    sleeps: list[float] = []
    assert make(script, sleeps).structured("x", Label).label == "spam"
    assert sleeps == [7.0] and len(script.requests) == 2


def test_429_forever_raises_rate_limit_error_with_retry_after(key: str) -> None:
    script = Script(*[httpx.Response(429, headers={"Retry-After": "2"}) for _ in range(3)])
    sleeps: list[float] = []
    with pytest.raises(LLMRateLimitError) as info:
        make(script, sleeps, max_retries=2).structured("x", Label)
    assert info.value.retry_after == 2.0 and info.value.status == 429
    assert sleeps == [2.0, 2.0] and len(script.requests) == 3


def test_429_with_huge_retry_after_fails_fast(key: str) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []
    with pytest.raises(LLMRateLimitError):
        make(script, sleeps).structured("x", Label)
    assert sleeps == [] and len(script.requests) == 1


def test_500_then_200_retries_with_backoff(key: str) -> None:
    script = Script(httpx.Response(500, text="boom"), httpx.Response(503, text="busy"), ok())
    sleeps: list[float] = []
    assert make(script, sleeps, backoff=1.0).structured("x", Label).label == "spam"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential with equal jitter


def test_5xx_forever_raises_server_error(key: str) -> None:
    script = Script(*[httpx.Response(502, json={"error": {"message": "bad gateway"}}) for _ in range(4)])
    with pytest.raises(LLMServerError, match="HTTP 502: bad gateway") as info:
        make(script, max_retries=3).structured("x", Label)
    assert info.value.status == 502 and len(script.requests) == 4


def test_timeouts_are_retried_then_raise_connection_error(key: str) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    assert make(script).structured("x", Label).label == "spam"
    script = Script(*[httpx.ReadTimeout("slow") for _ in range(3)])
    with pytest.raises(LLMConnectionError, match="timed out"):
        make(script, max_retries=2).structured("x", Label)
    assert len(script.requests) == 3


def test_connection_error_names_the_url(key: str) -> None:
    script = Script(*[httpx.ConnectError("refused") for _ in range(2)])
    with pytest.raises(LLMConnectionError, match="https://llm.example/v1"):
        make(script, max_retries=1).structured("x", Label)


@pytest.mark.parametrize(
    "response,match",
    [
        (httpx.Response(200, text="<html>gateway</html>"), "non-JSON"),
        (httpx.Response(200, text='{"choices": [{"message": {"content": "{\\"la'), "truncated"),
        (httpx.Response(200, json={"data": []}), "choices"),
    ],
)
def test_bad_bodies_raise_clear_llm_error(key: str, response: httpx.Response, match: str) -> None:
    with pytest.raises(LLMError, match=match) as info:
        make(Script(response)).structured("x", Label)
    assert type(info.value) is LLMError


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retried(key: str, status: int) -> None:
    script = Script(httpx.Response(status, json={"error": {"message": "invalid api key"}}))
    with pytest.raises(LLMAuthError, match="TEST_LLM_KEY") as info:
        make(script).structured("x", Label)
    assert len(script.requests) == 1 and key not in str(info.value)


def test_other_4xx_is_a_plain_error_with_the_server_message(key: str) -> None:
    script = Script(httpx.Response(404, json={"error": {"message": "model 'model-x' not found"}}))
    with pytest.raises(LLMError, match="not found") as info:
        make(script).structured("x", Label)
    assert info.value.status == 404 and len(script.requests) == 1


def test_missing_key_raises_auth_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(LLMAuthError, match="NO_SUCH_KEY_VAR"):
        OpenAICompatLLM("m", base_url=URL, api_key_env="NO_SUCH_KEY_VAR")


def test_loopback_servers_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    script = Script(ok())
    llm = OpenAICompatLLM(
        "m",
        base_url="http://localhost:8080/v1",
        api_key_env="NO_SUCH_KEY_VAR",
        transport=httpx.MockTransport(script),
    )
    llm.structured("x", Label)
    assert "authorization" not in script.requests[0].headers


def test_falls_back_to_prompt_schema_when_response_format_is_unsupported(key: str) -> None:
    script = Script(
        httpx.Response(400, json={"error": {"message": "response_format is not supported"}}),
        ok(),
        ok('{"label": "ham"}'),
    )
    llm = make(script)
    assert (
        llm.structured(
            [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "x"}], Label
        ).label
        == "spam"
    )
    first, second = script.bodies()[:2]
    assert "response_format" in first and "response_format" not in second
    assert (
        second["messages"][0]["content"].startswith("Be terse.")
        and '"label"' in second["messages"][0]["content"]
    )
    assert not llm.native_schema
    llm.structured("y", Label)  # later calls go straight to prompt mode
    assert "response_format" not in script.bodies()[2] and len(script.requests) == 3


def test_concurrency_uses_base_structured_many(key: str) -> None:
    from tutorloop.llm import StructuredJob

    script = Script(
        *[
            lambda r: ok(json.dumps({"label": json.loads(r.content)["messages"][0]["content"]}))
            for _ in range(6)
        ]
    )
    llm = make(script, max_concurrency=3)
    out = llm.structured_many([StructuredJob(f"t{i}", Label) for i in range(6)])
    assert [o.label for o in out] == [f"t{i}" for i in range(6)]
    assert llm.max_concurrency == 3


def test_sample_index_changes_seed_only_when_sampling(key: str) -> None:
    script = Script(ok(), ok(), ok())
    llm = make(script)
    llm.structured("x", Label, temperature=0.8, sample_index=0)
    llm.structured("x", Label, temperature=0.8, sample_index=1)
    llm.structured("x", Label, temperature=0.0)
    seeds = [b.get("seed") for b in script.bodies()]
    assert seeds[0] != seeds[1] and seeds[2] is None


@pytest.mark.parametrize(
    "url,expected",
    [
        ("http://127.0.0.1:1/v1", True),
        ("http://[::1]:8000", True),
        ("http://localhost/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5/v1", False),
    ],
)
def test_is_loopback(url: str, expected: bool) -> None:
    assert is_loopback(url) is expected


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


SECRET = "sk-in-url-0123456789"


def _echo(request: httpx.Request) -> httpx.Response:
    """A server that quotes the request's credentials back in its error message."""
    return httpx.Response(
        500, json={"error": {"message": f"bad auth {request.headers.get('authorization')} for {request.url}"}}
    )


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{SECRET}@llm.example/v1",
        f"https://{SECRET}@llm.example/v1",
        f"https://llm.example/v1?api-key={SECRET}",
    ],
)
@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectError(f"cannot connect to https://user:{SECRET}@llm.example/v1"),
        httpx.ReadTimeout("slow"),
        _echo,
        httpx.Response(401, json={"error": {"message": f"key {SECRET} rejected"}}),
        httpx.Response(404, text=f"no route for {SECRET}"),
        httpx.Response(200, text=f"<html>{SECRET}</html>"),
    ],
)
def test_credentials_in_the_base_url_or_key_never_reach_messages(
    url: str, answer: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", SECRET)
    llm = OpenAICompatLLM(
        "m",
        base_url=url,
        api_key_env="TEST_LLM_KEY",
        transport=httpx.MockTransport(Script(answer)),
        max_retries=0,
        sleep=lambda s: None,
    )
    with pytest.raises(LLMError) as info:
        llm.structured("x", Label)
    assert SECRET not in str(info.value) and "llm.example" in str(info.value)
    assert SECRET not in repr(llm) and SECRET not in json.dumps(llm.describe())
    assert llm.describe()["base_url"].startswith("https://")
