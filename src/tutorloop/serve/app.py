"""HTTP prediction server for a saved model (FastAPI). Loads an artifact only: there is no route to an LLM.

Endpoints: ``POST /predict`` (``{"text": ...}`` or ``{"texts": [...]}``), ``GET /health``, ``GET /info``,
and the OpenAPI docs at ``/docs``. Requests over the limits get 413, invalid ones 422, and a prediction
not answered within ``request_timeout_s`` (queue wait included) 503 with ``Retry-After``, always with a
JSON ``{"error", "detail"}`` body; the server keeps serving.

With ``api_key`` set, every request except ``GET /health`` (the liveness probe) must carry
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; otherwise 401 ``{"error": "Unauthorized"}`` with a
``WWW-Authenticate`` header. The key is compared in constant time and never logged or returned.

>>> from tutorloop.serve.app import create_app
>>> app = create_app("path/to/model")          # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..classifiers.loader import load
from ..errors import ConfigError, DataError, TutorloopError
from .batcher import PredictionQueue


class PredictRequest(BaseModel):
    """One text or a batch of texts."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="A single text to classify.", examples=["great film"])
    texts: list[str] | None = Field(None, description="Several texts to classify.")

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" or "texts"')
        return self


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    label: str | None = Field(None, description='The label when the request had a single "text".')


def _error(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def _presented_key(request: Request) -> bytes | None:
    """The key a request carries (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), as raw bytes."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip().encode("latin-1")  # headers arrive latin-1 decoded: back to the wire bytes
    key = request.headers.get("x-api-key")
    return key.strip().encode("latin-1") if key and key.strip() else None


def _unauthorized(missing: bool) -> JSONResponse:
    challenge = 'Bearer realm="tutorloop"' + ("" if missing else ', error="invalid_token"')
    detail = (
        "This server needs an API key: send Authorization: Bearer KEY (or X-API-Key: KEY)."
        if missing
        else "The API key is not valid."
    )
    response = _error(401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = challenge
    return response


_ROW_WISE_KINDS = {"tfidf", "static"}
"""Kinds whose probabilities for a text do not depend on the other texts of the call, so requests that
wait together can share one (tests/integration/test_serve.py::test_parallel_requests_get_the_predictions_of_
sequential_ones checks it for these and for embed, which does not share)."""

TIMEOUT_KEEP_ALIVE_S = 75
"""Seconds the server keeps an idle connection open (``tutorloop serve --timeout-keep-alive``). Longer than
clients keep theirs (httpx 5 s, aiohttp 15 s, nginx's upstream pools 60 s), so the client is the one that
closes an idle connection. uvicorn's default, 5 s, equals httpx's: under load a client reused a connection
just as the server closed it, the server's kernel reset it with the request unread, and the client saw
``ConnectionResetError`` (``benchmarks/serve_load.py``; see docs/reliability.md §7)."""


REQUEST_TIMEOUT_S = 60.0
"""Seconds a ``/predict`` request may wait for its answer, in the queue and in the model, before the server
gives up on it with 503 (``tutorloop serve --request-timeout``). Without one, a burst bigger than the model
can keep up with queues every request until its client has long given up, and the server spends its time
on answers nobody reads; given up, a request's texts are dropped from the queue unscored."""


class _Guard:
    """The API key first (when set), then the body limit; a plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` runs each request through a task group and memory streams: under load, 36% of
    the event loop's profile samples were under it, 22% of them the app itself).

    The key is checked before the body is read, so an unauthenticated client cannot make the server buffer
    anything. A body longer than ``max_body_bytes`` is refused at once from its ``Content-Length``; a chunked
    one is read up to the limit and refused there (so memory stays bounded), then replayed to the app. The
    rest of a refused upload is read and dropped by the server, which keeps the connection: closing it with
    the upload unread would make the kernel reset it, and the client would see a reset instead of the 413.
    """

    def __init__(self, app: ASGIApp, *, expected: bytes | None, max_body_bytes: int):
        self.app = app
        self.expected = expected
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.expected is not None and not (request.method == "GET" and request.url.path == "/health"):
            presented = _presented_key(request)
            if presented is None or not hmac.compare_digest(presented, self.expected):
                await _unauthorized(presented is None)(scope, receive, send)
                return
        length = request.headers.get("content-length")
        limit = self.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            too_large = _error(
                413, "PayloadTooLarge", f"Request body is {length} bytes; the limit is {limit}."
            )
            await too_large(scope, receive, send)
            return
        if request.method == "POST" and length is None:  # chunked upload: count what actually arrives
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > limit:
                    await _error(413, "PayloadTooLarge", f"Request body exceeds {limit} bytes.")(
                        scope, receive, send
                    )
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(bytes(body), receive)
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body`` (already read) and then what the server sends."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed


def create_app(
    model_path: str | Path,
    *,
    max_batch: int = 256,
    max_text_chars: int = 100_000,
    max_body_bytes: int = 4_000_000,
    threads: int | None = None,
    api_key: str | None = None,
    request_timeout_s: float | None = REQUEST_TIMEOUT_S,
) -> FastAPI:
    """Build the FastAPI app serving the model at ``model_path``.

    Args:
        max_batch: most texts per request (more -> 413).
        max_text_chars: longest text accepted (longer -> 413).
        max_body_bytes: largest request body (larger -> 413).
        threads: onnxruntime threads for embed/setfit models.
        api_key: when set (non-empty), every route but ``GET /health`` needs this key (401 otherwise).
        request_timeout_s: seconds a prediction may take, queue wait included (503 after; None: no limit).
    """
    if request_timeout_s is not None and not request_timeout_s > 0:
        raise ConfigError(
            f"request_timeout_s must be a positive number of seconds, or None for no limit; got "
            f"{request_timeout_s!r}."
        )
    expected = api_key.encode("utf-8") if api_key else None
    model = load(model_path, threads=threads)
    manifest = model.manifest
    labels = [str(c) for c in model.classes_]
    # one model call at a time on a worker thread, for every request waiting (see .batcher); the ONNX
    # kinds get a call per request, since their rows depend on the rest of the call (embed: up to 0.02
    # in a probability, measured) and no client's answer may depend on another client's requests
    shared = manifest["kind"] in _ROW_WISE_KINDS
    queue = PredictionQueue(model.predict_proba, max_texts=max_batch if shared else 1)
    app = FastAPI(
        title="tutorloop classifier",
        version=str(manifest.get("tutorloop_version", "")),
        description=f"A tutorloop {manifest['kind']} classifier over labels: {', '.join(labels)}.",
    )

    app.add_middleware(_Guard, expected=expected, max_body_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
        return _error(422, "ValidationError", errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed"}
        return _error(exc.status_code, names.get(exc.status_code, "HTTPError"), exc.detail)

    @app.exception_handler(TutorloopError)
    async def known(request: Request, exc: TutorloopError) -> JSONResponse:
        return _error(422 if isinstance(exc, DataError) else 500, type(exc).__name__, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, type(exc).__name__, "Internal error while predicting; see the server log.")

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the model is loaded."""
        return {"status": "ok"}

    @app.get("/info")
    def info() -> dict[str, Any]:
        """The model's kind, labels, metrics, training summary and limits."""
        return {
            "kind": manifest["kind"],
            "labels": labels,
            "metrics": manifest.get("metrics", {}),
            "training": manifest.get("training", {}),
            "truncation": manifest.get("truncation", {}),
            "created": manifest.get("created"),
            "tutorloop_version": manifest.get("tutorloop_version"),
            "limits": {
                "max_batch": max_batch,
                "max_text_chars": max_text_chars,
                "max_body_bytes": max_body_bytes,
                "request_timeout_s": request_timeout_s,
            },
            "auth": "api-key" if expected is not None else None,
        }

    @app.post("/predict", response_model=PredictResponse, responses={401: {}, 413: {}, 422: {}, 503: {}})
    async def predict(req: PredictRequest) -> Any:
        """Classify ``text`` or ``texts``; returns labels and per-label probabilities."""
        texts = [req.text] if req.text is not None else list(req.texts or [])
        if not texts:
            return _error(422, "ValidationError", '"texts" is empty; send at least one text.')
        if len(texts) > max_batch:
            return _error(
                413, "BatchTooLarge", f"{len(texts)} texts in one request; the limit is {max_batch}."
            )
        for i, t in enumerate(texts):
            if len(t) > max_text_chars:
                return _error(
                    413, "TextTooLong", f"Text {i} has {len(t)} characters; the limit is {max_text_chars}."
                )
            if not t.strip():
                return _error(422, "ValidationError", f"Text {i} is empty; send some text to classify.")
        try:
            proba = await asyncio.wait_for(queue.predict_proba(texts), request_timeout_s)
        except TimeoutError:  # given up: the queue drops the texts if the model has not started on them
            busy = _error(
                503,
                "Timeout",
                f"No answer within {request_timeout_s:g} s: the server is busy. Try again later, or send "
                "fewer texts at once.",
            )
            busy.headers["Retry-After"] = str(max(1, round(request_timeout_s or 1)))
            return busy
        preds = [
            Prediction(
                label=labels[int(p.argmax())],
                probabilities={lab: float(v) for lab, v in zip(labels, p, strict=True)},
            )
            for p in proba
        ]
        return PredictResponse(predictions=preds, label=preds[0].label if req.text is not None else None)

    return app
