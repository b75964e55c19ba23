"""HTTP prediction server for a saved model (FastAPI). Loads an artifact only: there is no route to an LLM.

Endpoints: ``POST /predict`` (``{"text": ...}`` or ``{"texts": [...]}``), ``GET /health``, ``GET /info``,
and the OpenAPI docs at ``/docs``. Requests over the limits get 413, invalid ones 422, always with a JSON
``{"error", "detail"}`` body; the server keeps serving.

With ``api_key`` set, every request except ``GET /health`` (the liveness probe) must carry
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; otherwise 401 ``{"error": "Unauthorized"}`` with a
``WWW-Authenticate`` header. The key is compared in constant time and never logged or returned.

>>> from tutorloop.serve.app import create_app
>>> app = create_app("path/to/model")          # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException

from ..classifiers.loader import load
from ..errors import DataError, TutorloopError


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


def create_app(
    model_path: str | Path,
    *,
    max_batch: int = 256,
    max_text_chars: int = 100_000,
    max_body_bytes: int = 4_000_000,
    threads: int | None = None,
    api_key: str | None = None,
) -> FastAPI:
    """Build the FastAPI app serving the model at ``model_path``.

    Args:
        max_batch: most texts per request (more -> 413).
        max_text_chars: longest text accepted (longer -> 413).
        max_body_bytes: largest request body (larger -> 413).
        threads: onnxruntime threads for embed/setfit models.
        api_key: when set (non-empty), every route but ``GET /health`` needs this key (401 otherwise).
    """
    expected = api_key.encode("utf-8") if api_key else None
    model = load(model_path, threads=threads)
    manifest = model.manifest
    labels = [str(c) for c in model.classes_]
    app = FastAPI(
        title="tutorloop classifier",
        version=str(manifest.get("tutorloop_version", "")),
        description=f"A tutorloop {manifest['kind']} classifier over labels: {', '.join(labels)}.",
    )

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        """The API key first (when set), then the body limit."""
        if expected is not None and not (request.method == "GET" and request.url.path == "/health"):
            # before the body is read: an unauthenticated client cannot make the server buffer anything
            presented = _presented_key(request)
            if presented is None or not hmac.compare_digest(presented, expected):
                return _unauthorized(presented is None)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return _error(
                413, "PayloadTooLarge", f"Request body is {length} bytes; the limit is {max_body_bytes}."
            )
        if request.method == "POST" and length is None:
            body = await request.body()  # chunked upload: measure what actually arrived
            if len(body) > max_body_bytes:
                return _error(413, "PayloadTooLarge", f"Request body exceeds {max_body_bytes} bytes.")
        return await call_next(request)

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
            },
            "auth": "api-key" if expected is not None else None,
        }

    @app.post("/predict", response_model=PredictResponse, responses={401: {}, 413: {}, 422: {}})
    def predict(req: PredictRequest) -> Any:
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
        proba = model.predict_proba(texts)
        preds = [
            Prediction(
                label=labels[int(p.argmax())],
                probabilities={lab: float(v) for lab, v in zip(labels, p, strict=True)},
            )
            for p in proba
        ]
        return PredictResponse(predictions=preds, label=preds[0].label if req.text is not None else None)

    return app
