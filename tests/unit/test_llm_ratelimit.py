"""RateLimit (requests or tokens per minute, shared by threads) and its use by the openai backend."""

from __future__ import annotations

import threading

import httpx
import pytest

from tutorloop.errors import ConfigError
from tutorloop.llm import get_llm
from tutorloop.llm.openai_compat import OpenAICompatLLM
from tutorloop.llm.ratelimit import RateLimit
from tutorloop.types import LLMRequest, Message


def frozen(now: float = 0.0) -> tuple[list[float], RateLimit]:
    waits: list[float] = []
    return waits, RateLimit(60, clock=lambda: now, sleep=waits.append)


def test_threads_sharing_a_limit_are_spaced_one_interval_apart() -> None:
    waits, limit = frozen()  # 60 a minute: one a second; the clock does not move
    threads = [threading.Thread(target=limit.acquire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [1.0, 2.0, 3.0, 4.0, 5.0]  # the first went at once (no sleep)


def test_cost_and_settle_move_the_next_start() -> None:
    now = [0.0]
    waits: list[float] = []
    limit = RateLimit(6000, clock=lambda: now[0], sleep=waits.append)  # 100 tokens a second
    assert limit.acquire(100) == 0.0
    limit.settle(-50)  # only 50 were used: the next may start after 0.5 s
    assert limit.acquire(10) == pytest.approx(0.5)
    limit.settle(+40)  # 40 more than reserved
    assert limit.acquire(1) == pytest.approx(0.5 + 0.1 + 0.4)
    now[0] = 100.0  # idle for long: no credit is saved up (no burst)
    limit.settle(-1000)
    assert limit.acquire(100) == 0.0 and limit.acquire(1) == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [0, -5])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ConfigError, match="positive number per minute"):
        RateLimit(rate)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"content": '{"label": "x"}'}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5},
        },
    )


def test_the_openai_backend_waits_for_its_limits_on_every_attempt() -> None:
    answers = [httpx.Response(429, json={"error": {"message": "busy"}}), ok(httpx.Request("POST", "x")), None]
    answers[2] = answers[1]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)  # type: ignore[return-value]

    llm = get_llm(
        "openai:m",
        base_url="http://127.0.0.1:9/v1",
        cache=False,
        requests_per_minute=60,
        tokens_per_minute=600_000,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        max_retries=2,
    )
    assert isinstance(llm, OpenAICompatLLM) and llm.request_limit and llm.token_limit
    seen: list[tuple[str, float]] = []
    for name, limit in (("requests", llm.request_limit), ("tokens", llm.token_limit)):
        limit.acquire = lambda cost=1.0, name=name: seen.append((name, cost)) or 0.0  # type: ignore[method-assign]
    settled: list[float] = []
    llm.token_limit.settle = settled.append  # type: ignore[method-assign]
    request = LLMRequest(messages=(Message("user", "x" * 40),), max_tokens=30)
    llm.complete(request)
    llm.complete(LLMRequest(messages=(Message("user", "y" * 40),), max_tokens=30))
    estimate = 40 / 4 + 30
    assert seen == [("requests", 1.0), ("tokens", estimate)] * 3  # the 429, its retry, the next call
    assert settled == [25 - estimate] * 2  # settled with the reported usage
    assert llm.describe()["requests_per_minute"] == 60 and llm.describe()["tokens_per_minute"] == 600_000


def test_rate_limits_apply_to_openai_backends_only() -> None:
    with pytest.raises(ConfigError, match="requests_per_minute applies to openai"):
        get_llm("local:smollm2", requests_per_minute=10)
