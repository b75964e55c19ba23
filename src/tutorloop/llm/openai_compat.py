"""OpenAI-compatible HTTP backend (OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio, most hosted APIs).

One POST to ``{base_url}/chat/completions`` per request, through :mod:`httpx`. HTTP statuses map onto the
error tree: 401/403 → :class:`~tutorloop.errors.LLMAuthError`; 429 → retried after ``Retry-After``, then
:class:`~tutorloop.errors.LLMRateLimitError`; 5xx, timeouts and connection errors → retried with
exponential backoff and jitter, then :class:`~tutorloop.errors.LLMServerError` /
:class:`~tutorloop.errors.LLMConnectionError`.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ..errors import LLMAuthError, LLMConnectionError, LLMError, LLMRateLimitError, LLMServerError
from ..types import LLMRequest, LLMResponse
from .base import LLM
from .ratelimit import RateLimit

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SCHEMA_HINT = "Reply with a single JSON value and nothing else, matching this JSON schema:\n"


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine (``localhost``, ``127.0.0.0/8``, ``::1``).

    >>> is_loopback("http://127.0.0.1:8080/v1"), is_loopback("https://api.openai.com/v1")
    (True, False)
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """``url`` safe to print or save: credentials (``user:pass@``) and query values become ``***``.

    >>> redact_url("https://user:sk-secret@llm.example/v1?api-key=sk-secret&v=2")
    'https://***@llm.example/v1?api-key=***&v=***'
    >>> redact_url("http://127.0.0.1:8080/v1")
    'http://127.0.0.1:8080/v1'
    """
    parts = urlsplit(url)
    if not (parts.username or parts.password or parts.query):
        return url
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username or parts.password:
        netloc = "***@" + netloc
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad.

    >>> parse_retry_after("3")
    3.0
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_message(response: httpx.Response) -> str:
    """The server's own error message, shortened; never echoes request headers."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))[:300]
    return str(err or body)[:300]


def _says_response_format_unsupported(response: httpx.Response) -> bool:
    text = _error_message(response).lower()
    return "response_format" in text or "json_schema" in text


class OpenAICompatLLM(LLM):
    """Talks to any OpenAI-compatible ``/chat/completions`` endpoint.

    The API key is read from the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``) when
    the object is made; a missing key is an :class:`~tutorloop.errors.LLMAuthError` unless ``base_url``
    is on loopback (local servers rarely need one). The key is sent only in the ``Authorization`` header:
    it is never part of the cache key, the ledger, ``repr`` or any error message.

    With ``native_schema=True`` the JSON schema is sent as ``response_format`` (``json_schema``); when the
    server answers 400 saying it does not support that, the backend switches to putting the schema in
    the prompt for the rest of its life. Retries: ``max_retries`` more attempts after the first, waiting
    ``Retry-After`` on 429 (up to ``max_retry_after`` seconds) or ``backoff * 2**n`` with jitter otherwise.
    ``sleep`` and ``transport``/``client`` are injectable for tests.

    Up to ``max_concurrency`` requests (default 8) are in flight at once in :meth:`structured_many` and
    the loop. ``requests_per_minute`` and ``tokens_per_minute`` (optional) space the requests of all
    threads evenly (:class:`~tutorloop.llm.ratelimit.RateLimit`); tokens are reserved before a request as
    ``prompt characters / 4 + max_tokens`` and settled with the ``usage`` the server reports. Every attempt
    (retries too) goes through the limits.

    >>> import httpx
    >>> def handler(request):
    ...     return httpx.Response(200, json={"choices": [{"message": {"content": '{"label": "ham"}'}}],
    ...                                      "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    >>> llm = OpenAICompatLLM("m", base_url="http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler))
    >>> llm.complete(LLMRequest(messages=())).text
    '{"label": "ham"}'
    """

    backend = "openai"
    supports_schema = True  # prompt-only mode is handled inside _complete, see native_schema
    plans_tool_calls = True  # hosted and served models steer the rounds through tool calls

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        native_schema: bool = True,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        max_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        **kwargs: Any,
    ):
        super().__init__(model, max_concurrency=max_concurrency or 8, **kwargs)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.shown_url = redact_url(self.base_url)  # what messages, describe() and repr show
        self.api_key_env = api_key_env or "OPENAI_API_KEY"
        self._api_key = os.environ.get(self.api_key_env) or None
        if self._api_key is None and not is_loopback(self.base_url):
            raise LLMAuthError(
                f"No API key for {self.shown_url}: set the environment variable "
                f"{self.api_key_env} (or name another variable with --api-key-env)."
            )
        self.native_schema = native_schema
        self.max_retries = max(0, int(max_retries))
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, max_retry_after
        self._sleep = sleep
        self.request_limit = RateLimit(requests_per_minute, sleep=sleep) if requests_per_minute else None
        self.token_limit = RateLimit(tokens_per_minute, sleep=sleep) if tokens_per_minute else None
        self._rng = rng or random.Random()
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            limits=httpx.Limits(max_connections=max(self.max_concurrency, 10)),
        )

    # -- request building --------------------------------------------------------------------------
    def _body(self, request: LLMRequest) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.temperature > 0:
            body["seed"] = request.seed * 1_000_003 + request.sample_index
        if request.json_schema is None:
            return body
        if self.native_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema},
            }
        else:
            hint = _SCHEMA_HINT + json.dumps(request.json_schema, separators=(",", ":"))
            if messages and messages[0]["role"] == "system":
                messages[0] = {"role": "system", "content": messages[0]["content"] + "\n\n" + hint}
            else:
                messages.insert(0, {"role": "system", "content": hint})
        return body

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _acquire(self, request: LLMRequest) -> float:
        """Wait for the rate limits (if any); returns the tokens reserved for this attempt."""
        if self.request_limit is not None:
            self.request_limit.acquire()
        if self.token_limit is None:
            return 0.0
        estimate = sum(len(m.content) for m in request.messages) / 4 + request.max_tokens
        self.token_limit.acquire(estimate)
        return estimate

    def _wait(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + self._rng.random() / 2)  # "equal jitter": never zero, never above base

    # -- the one backend method --------------------------------------------------------------------
    def _complete(self, request: LLMRequest) -> LLMResponse:
        url = f"{self.base_url}/chat/completions"
        shown = f"{self.shown_url}/chat/completions"
        last: LLMError | None = None
        attempt = 0
        while attempt <= self.max_retries:
            reserved = self._acquire(request)
            start = time.perf_counter()
            try:
                response = self._client.post(url, json=self._body(request), headers=self._headers())
            except httpx.TimeoutException:
                last = LLMConnectionError(
                    f"{shown} timed out after {attempt + 1} attempt(s); the server is "
                    "slow or overloaded: retry later or raise the timeout."
                )
            except httpx.TransportError as exc:
                last = LLMConnectionError(
                    f"Cannot reach {self.shown_url} ({type(exc).__name__}: {self._scrub(str(exc))}). "
                    "Is the server running and the --base-url right?"
                )
            else:
                latency = time.perf_counter() - start
                status = response.status_code
                if status == 200:
                    reply = self._parse(response, latency)
                    if self.token_limit is not None and (reply.prompt_tokens or reply.completion_tokens):
                        self.token_limit.settle(reply.prompt_tokens + reply.completion_tokens - reserved)
                    return reply
                if status in (401, 403):
                    raise LLMAuthError(
                        f"{self.shown_url} rejected the API key (HTTP {status}: "
                        f"{self._server_says(response)}). Check {self.api_key_env}.",
                        status=status,
                    )
                if status == 400 and self.native_schema and _says_response_format_unsupported(response):
                    self.native_schema = False  # fall back to the schema in the prompt; not a failed attempt
                    continue
                if status == 429:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    last = LLMRateLimitError(
                        f"{self.shown_url} kept answering 429 (rate limited): "
                        f"{self._server_says(response)}. Lower --max-concurrency, set "
                        "--requests-per-minute / --tokens-per-minute, or retry later.",
                        status=429,
                        retry_after=retry_after,
                    )
                    if retry_after is not None and retry_after > self.max_retry_after:
                        raise last
                    if attempt < self.max_retries:
                        self._sleep(retry_after if retry_after is not None else self._wait(attempt))
                    attempt += 1
                    continue
                if status >= 500:
                    last = LLMServerError(
                        f"{self.shown_url} kept failing with HTTP {status}: {self._server_says(response)}.",
                        status=status,
                    )
                else:
                    raise LLMError(
                        f"{shown} answered HTTP {status}: {self._server_says(response)}", status=status
                    )
            if attempt < self.max_retries:
                self._sleep(self._wait(attempt))
            attempt += 1
        assert last is not None
        raise last

    def _scrub(self, text: str) -> str:
        """``text`` without the API key or the base URL's credentials (a server may echo them back)."""
        text = text.replace(self.base_url, self.shown_url)
        parts = urlsplit(self.base_url)
        secrets = (self._api_key, parts.password, parts.username, *(v for _, v in parse_qsl(parts.query)))
        for secret in secrets:
            if secret and len(secret) >= 6:  # shorter ones ("user", "1") would mangle ordinary words
                text = text.replace(secret, "***")
        return text

    def _server_says(self, response: httpx.Response) -> str:
        return self._scrub(_error_message(response))

    def _parse(self, response: httpx.Response, latency: float) -> LLMResponse:
        try:
            data = response.json()
        except ValueError as exc:
            raise LLMError(
                f"{self.shown_url} sent a truncated or non-JSON reply (HTTP 200, "
                f"{len(response.content)} bytes, starting {self._scrub(response.text[:80])!r})."
            ) from exc
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"{self.shown_url} replied without choices[0].message.content; is it an "
                f"OpenAI-compatible /chat/completions endpoint? Got: {self._scrub(str(data)[:150])}"
            ) from exc
        usage = data.get("usage") or {}
        return LLMResponse(
            text=text,
            model=str(data.get("model") or self.model),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            raw={"finish_reason": choice.get("finish_reason"), "id": data.get("id")},
        )

    def describe(self) -> dict[str, Any]:
        """Backend, model, base URL, the key's variable name and whether it is set (never the key)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "base_url": self.shown_url,
            "api_key_env": self.api_key_env,
            "api_key_set": self._api_key is not None,
            "native_schema": self.native_schema,
            "max_concurrency": self.max_concurrency,
            "requests_per_minute": self.request_limit.per_minute if self.request_limit else None,
            "tokens_per_minute": self.token_limit.per_minute if self.token_limit else None,
        }

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatLLM(model={self.model!r}, base_url={self.shown_url!r})"
