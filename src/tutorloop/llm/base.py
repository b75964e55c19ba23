"""The LLM base class: one narrow backend method; caching, ledger, re-asking and concurrency live here.

A backend subclasses :class:`LLM` and implements :meth:`LLM._complete` (one request in, one reply out).
Everything else (the response cache, the ledger, structured replies validated by pydantic with bounded
re-asking, concurrent batches) lives here, so a new backend is one small file.
"""

from __future__ import annotations

import copy
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, LLMOutputError
from ..types import LLMRequest, LLMResponse, Message
from .cache import ResponseCache
from .ledger import Ledger

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """Best-effort: the JSON object or array inside ``text`` (strips code fences and chatter)."""
    m = _FENCE.search(text)
    if m:
        text = m.group(1)
    text = text.strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    return text[start : end + 1] if end > start else text[start:]


def as_messages(messages: Sequence[Message | dict[str, str]] | str) -> tuple[Message, ...]:
    """Accept a prompt string, :class:`Message` objects or ``{"role","content"}`` dicts."""
    if isinstance(messages, str):
        return (Message("user", messages),)
    out = []
    for m in messages:
        out.append(m if isinstance(m, Message) else Message(m["role"], m["content"]))  # type: ignore[arg-type]
    return tuple(out)


@dataclass
class StructuredJob:
    """One structured request, for :meth:`LLM.structured_many`."""

    messages: Sequence[Message | dict[str, str]] | str
    schema: type[BaseModel]
    temperature: float = 0.0
    max_tokens: int = 512
    sample_index: int = 0
    purpose: str = ""


class LLM(ABC):
    """Base of every backend.

    Subclasses set ``backend`` (e.g. ``"openai"``), ``model`` and implement :meth:`_complete`.
    ``supports_schema`` says whether the backend enforces ``request.json_schema`` natively; when it
    does not, the schema is added to the prompt and the reply is parsed leniently.
    ``plans_tool_calls`` says whether the model is trusted to steer refinement rounds through tool calls
    (``agent="auto"`` then uses the LLM agent; otherwise the deterministic policy decides and the model only
    writes and judges texts). Small local models plan poorly, so their backends set it to False.

    >>> from tutorloop.llm import FakeLLM
    >>> from pydantic import BaseModel
    >>> class Reply(BaseModel):
    ...     label: str
    >>> llm = FakeLLM(replies=['{"label": "positive"}'])
    >>> llm.structured("Classify: great film", Reply).label
    'positive'
    """

    backend: ClassVar[str] = "base"
    supports_schema: ClassVar[bool] = False
    plans_tool_calls: bool = True
    _also: tuple[Ledger, ...] = ()  # more ledgers that record every call (see recording_to)

    def __init__(
        self,
        model: str,
        *,
        cache: ResponseCache | None = None,
        ledger: Ledger | None = None,
        max_concurrency: int = 1,
        seed: int = 0,
    ):
        self.model = model
        self.cache = cache
        self.ledger = ledger if ledger is not None else Ledger()
        self.max_concurrency = max(1, int(max_concurrency))
        self.seed = seed

    # -- the one method a backend implements -------------------------------------------------------
    @abstractmethod
    def _complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request to the model and return its reply (no caching, no retries of output)."""

    def describe(self) -> dict[str, Any]:
        """What ``tutorloop llm check`` prints about this backend (never secrets)."""
        return {"backend": self.backend, "model": self.model}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model memory, HTTP connections)."""

    def recording_to(self, ledger: Ledger) -> LLM:
        """A view of this LLM (same model, cache and connections) whose ``ledger`` is ``ledger``; every call
        is still recorded in this LLM's own ledger too. A run gets its own ledger this way, without changing
        the LLM object its caller holds (which may serve several runs)."""
        view = copy.copy(self)
        view.ledger = ledger
        view._also = (self.ledger, *self._also)
        return view

    # -- shared machinery --------------------------------------------------------------------------
    def complete(self, request: LLMRequest, *, purpose: str = "") -> LLMResponse:
        """One reply, from the cache when this exact request was answered before.

        A new reply goes into the cache first (a crash after the call never pays for it again), then into
        the ledgers, then the cache notes it was counted. A crash between the cache and the ledger leaves
        a paid reply no ledger counted: its next use is recorded as paid (``cached: false``), unless this
        LLM's ledger already holds a paid row for it (the crash came after the ledger row)."""
        key = request.key(self.backend, self.model)
        response = self.cache.get(key) if self.cache is not None else None
        counted_now = response is None or not response.cached
        if response is None:
            response = self._complete(request)
            response.cached = False
            if self.cache is not None:
                self.cache.put(key, response, recorded=False)
        elif not response.cached and self.ledger.has_paid(key):
            response.cached = True
        for ledger in (self.ledger, *self._also):
            ledger.record(
                backend=self.backend,
                model=self.model,
                purpose=purpose,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                latency_s=response.latency_s,
                cached=response.cached,
                key=key,
            )
        if counted_now and self.cache is not None:
            self.cache.mark_recorded(key)
        return response

    def structured(
        self,
        messages: Sequence[Message | dict[str, str]] | str,
        schema: type[T],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        sample_index: int = 0,
        max_attempts: int = 3,
        purpose: str = "",
    ) -> T:
        """A reply validated against ``schema``; re-asks with the validation error, then raises.

        Raises :class:`~tutorloop.errors.LLMOutputError` (with ``attempts`` and ``raw``) when no reply
        validated within ``max_attempts``.
        """
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1. Got {max_attempts} instead.")
        msgs = list(as_messages(messages))
        json_schema = schema.model_json_schema()
        if not self.supports_schema:
            hint = (
                "Reply with a single JSON value and nothing else, matching this JSON schema:\n"
                + json.dumps(json_schema, separators=(",", ":"))
            )
            if msgs and msgs[0].role == "system":
                msgs[0] = Message("system", msgs[0].content + "\n\n" + hint)
            else:
                msgs.insert(0, Message("system", hint))
        raw, error = "", ""
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        for _attempt in range(1, max_attempts + 1):
            request = LLMRequest(
                messages=tuple(msgs),
                json_schema=json_schema,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=self.seed,
                sample_index=sample_index,
            )
            response = self.complete(request, purpose=purpose)
            usage["prompt_tokens"] += response.prompt_tokens
            usage["completion_tokens"] += response.completion_tokens
            raw = response.text
            try:
                return schema.model_validate_json(extract_json(raw))
            except ValidationError as exc:
                error = _short_error(exc)
            msgs += [
                Message("assistant", raw[:2000]),
                Message(
                    "user",
                    f"That reply was invalid: {error}. Reply again with only valid JSON "
                    "that matches the schema.",
                ),
            ]
        raise LLMOutputError(
            f"{self.backend}:{self.model} gave no reply matching {schema.__name__} in {max_attempts} "
            f"attempts (last error: {error}). Try a larger model or a simpler request.",
            attempts=max_attempts,
            raw=raw,
            usage=usage,
        )

    def structured_many(
        self, jobs: Sequence[StructuredJob], *, max_attempts: int = 3, on_done: Any = None
    ) -> list[BaseModel | LLMOutputError]:
        """Run many structured requests, ``max_concurrency`` at a time, in input order.

        A job whose reply never validates yields its :class:`LLMOutputError` in place of a result
        (other errors propagate). ``on_done()`` is called after each job, e.g. to advance a progress bar.
        """
        return [r for _, r in self.structured_iter(jobs, max_attempts=max_attempts, on_done=on_done)]

    def structured_iter(
        self,
        jobs: Sequence[StructuredJob],
        *,
        max_attempts: int = 3,
        on_done: Any = None,
        before_submit: Callable[[], None] | None = None,
        lookahead: int = 4,
    ) -> Iterator[tuple[int, BaseModel | LLMOutputError]]:
        """``(index, reply)`` for each job, in input order, each as soon as it and every job before it are
        answered, with up to ``max_concurrency`` requests in flight all the time (a sliding window: a slow
        request does not hold back the start of the next ones).

        Bounded: at most ``lookahead × max_concurrency`` jobs are started and not yet yielded, so a slow job
        at the head buffers a bounded number of replies. ``before_submit()`` runs before each job starts
        (the loop checks its budget there); when it raises, no more jobs start, the ones in flight are
        waited for and yielded, then its exception is raised. A reply that never validates is yielded as
        its :class:`LLMOutputError`; any other error is raised when its job reaches the head, after every
        earlier reply was yielded. When the consumer stops early (an exception, Ctrl-C, ``close()``), jobs
        not yet started are cancelled and the running ones are waited for (their replies are in the
        response cache, so a resumed run does not pay for them again).
        """

        def run(job: StructuredJob) -> BaseModel | LLMOutputError:
            try:
                return self.structured(
                    job.messages,
                    job.schema,
                    temperature=job.temperature,
                    max_tokens=job.max_tokens,
                    sample_index=job.sample_index,
                    max_attempts=max_attempts,
                    purpose=job.purpose,
                )
            except LLMOutputError as exc:
                return exc
            finally:
                if on_done is not None:
                    on_done()

        n, width = len(jobs), self.max_concurrency
        if width == 1 or n <= 1:
            for i, job in enumerate(jobs):
                if before_submit is not None:
                    before_submit()
                yield i, run(job)
            return
        window = max(width, lookahead * width)
        futures: dict[int, Future[BaseModel | LLMOutputError]] = {}
        submitted = yielded = 0
        stop: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="tutorloop-llm")
        try:
            while yielded < n:
                running = sum(not f.done() for f in futures.values())
                while stop is None and submitted < n and running < width and submitted - yielded < window:
                    if before_submit is not None:
                        try:
                            before_submit()
                        except Exception as exc:  # noqa: BLE001 - re-raised once the running jobs are in
                            stop = exc
                            break
                    futures[submitted] = pool.submit(run, jobs[submitted])
                    submitted += 1
                    running += 1
                if yielded == submitted:  # stopped by before_submit, nothing left in flight
                    break
                head = futures[yielded]
                if not head.done():
                    wait([f for f in futures.values() if not f.done()], return_when=FIRST_COMPLETED)
                    continue
                del futures[yielded]
                yielded += 1
                yield yielded - 1, head.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if stop is not None:
            raise stop

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r})"


def _short_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)
