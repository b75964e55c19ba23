"""The embedded backend: a GGUF model run in-process on the CPU by llama.cpp (through ``xllamacpp``).

Requests are OpenAI-style chat dicts handed to ``xllamacpp.Server.handle_chat_completions``; a JSON
schema goes into the request body as ``response_format`` so llama.cpp constrains decoding with a grammar.
One model is loaded per (file, threads, context size) and shared by every :class:`LocalLLM` in the process.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LLMError, LLMModelError
from ..types import LLMRequest, LLMResponse
from .base import LLM
from .models import file_sha256

DEFAULT_N_CTX = 4096


def default_threads() -> int:
    """CPU threads for llama.cpp: ``$TUTORLOOP_LLM_THREADS`` or ``min(2, cpu_count)``.

    Two threads is the measured sweet spot on small machines; more collapse under CPU contention.
    """
    env = os.environ.get("TUTORLOOP_LLM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError as exc:
            raise ConfigError(
                f"TUTORLOOP_LLM_THREADS must be a positive integer. Got {env!r} instead."
            ) from exc
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class _Loaded:
    """A loaded model: the xllamacpp server object, its lock and its private listener."""

    server: Any
    lock: threading.Lock
    api_key: str
    socket_dir: Path
    load_s: float

    @property
    def address(self) -> str:
        return str(self.server.listening_address)


_LOADED: dict[tuple[str, int, int], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _check_gguf(path: Path) -> None:
    if not path.is_file():
        raise LLMModelError(
            f"Model file not found: {path}. Pass an existing .gguf file "
            "(local:/path/model.gguf) or a packaged model (local, local:smollm2); "
            "`tutorloop llm models` lists them."
        )
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise LLMModelError(
            f"{path} is not a GGUF model file (it does not start with 'GGUF'). llama.cpp needs a .gguf file."
        )


def _private_socket_dir() -> Path:
    # A unix socket in a 0700 directory: the listener xllamacpp always opens is then reachable only by
    # this user, and never over TCP. Socket paths are limited to ~107 bytes, hence the /tmp fallback.
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="tutorloop-llm-", dir=base))


def _load(path: Path, threads: int, n_ctx: int, verbose: bool) -> _Loaded:
    try:
        import xllamacpp
    except ImportError as exc:
        raise ConfigError(
            "The local LLM backend needs xllamacpp: pip install 'tutorloop[local]' "
            "(or pip install xllamacpp==2026.10.11549)"
        ) from exc
    _check_gguf(path)
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.verbosity = 3 if verbose else 0  # 0 silences llama.cpp's very chatty stderr log
    sock_dir = _private_socket_dir()
    params.hostnames = [str(sock_dir / "llama.sock")]
    api_key = secrets.token_hex(32)
    params.api_keys = [api_key]
    params.ui = False
    params.endpoint_slots = False
    params.n_threads_http = 1
    start = time.perf_counter()
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        shutil.rmtree(sock_dir, ignore_errors=True)
        raise LLMModelError(
            f"llama.cpp could not load {path}: {exc}. Is it a complete GGUF file of a model "
            "architecture llama.cpp supports? Is there enough free memory?"
        ) from exc
    atexit.register(shutil.rmtree, sock_dir, True)
    return _Loaded(server, threading.Lock(), api_key, sock_dir, time.perf_counter() - start)


def loaded_model(path: Path, threads: int, n_ctx: int = DEFAULT_N_CTX, verbose: bool = False) -> _Loaded:
    """The process-wide loaded model for (path, threads, n_ctx), loading it on first use."""
    key = (str(Path(path).resolve()), threads, n_ctx)
    with _LOADED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(Path(key[0]), threads, n_ctx, verbose)
        return _LOADED[key]


def unload_all() -> None:
    """Forget every loaded model (memory is freed once no :class:`LocalLLM` holds it)."""
    with _LOADED_LOCK:
        _LOADED.clear()


@functools.cache
def _has_llguidance() -> bool:
    """True when this llama.cpp build compiles JSON schemas with llguidance (prebuilt xllamacpp does)."""
    import xllamacpp

    return str(xllamacpp.json_schema_to_grammar({"type": "string"})).startswith("%llguidance")


def compact_json_grammar(schema: dict[str, Any]) -> str:
    """An llguidance grammar for ``schema`` that allows no optional whitespace.

    llama.cpp's default JSON grammar lets the model emit newlines and indentation, and each of those
    tokens costs as much as a word (measured: 117 → 76 tokens for the same five examples).

    >>> compact_json_grammar({"type": "string"}).splitlines()[0]
    '%llguidance {}'
    """
    options = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    tuned = _closed(schema)
    tuned["x-guidance"] = {**options, **schema.get("x-guidance", {})}
    return "%llguidance {}\nstart: %json " + json.dumps(tuned, separators=(",", ":"))


def _closed(node: Any) -> Any:
    """Copy of a schema where objects with ``properties`` forbid other keys unless they say otherwise.

    llguidance follows JSON Schema (extra keys allowed by default) where llama.cpp's own converter does
    not; without this a small model happily invents keys until it runs out of tokens.
    """
    if isinstance(node, list):
        return [_closed(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):  # name -> schema maps, not schemas themselves
            out[key] = {name: _closed(sub) for name, sub in value.items()}
        else:
            out[key] = _closed(value)
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


def _server_error(out: Any) -> LLMError:
    err = out.get("error") if isinstance(out, dict) else None
    if not isinstance(err, dict):
        return LLMError(f"llama.cpp returned an unexpected reply: {str(out)[:200]}")
    message = str(err.get("message", err))
    hint = " Use a larger n_ctx or a shorter prompt." if "context" in message else ""
    return LLMError(f"llama.cpp failed: {message}.{hint}", status=err.get("code"))


def _seed(request: LLMRequest) -> int:
    # sample_index must change the sample when temperature > 0; 0xFFFFFFFF means "random" to llama.cpp.
    return (request.seed * 1_000_003 + request.sample_index) % 0xFFFFFFFF


class LocalLLM(LLM):
    """A GGUF model run in-process by llama.cpp, with JSON-schema constrained replies.

    The model loads on the first request and stays loaded, shared by every ``LocalLLM`` on the same
    file, thread count and context size. Requests are serialised (llama.cpp runs one at a time here;
    sending the fixed part of prompts first lets it reuse its prompt cache). With ``compact_json=True``
    (default) the schema is compiled to a grammar that forbids optional whitespace, so replies cost
    about a third fewer tokens; ``False`` uses llama.cpp's standard ``response_format`` handling.

    Security: xllamacpp always starts llama.cpp's HTTP server next to the in-process API (it cannot be
    switched off; an empty host list crashes it). ``LocalLLM`` makes that listener private: it binds a
    unix socket inside a fresh 0700 temporary directory instead of a TCP port, requires a random
    per-process API key (``secrets.token_hex``), and turns off the web UI and the ``/slots`` endpoint.
    Nothing listens on the network.

    >>> llm = LocalLLM("/path/to/model.gguf", threads=2)  # doctest: +SKIP
    >>> from pydantic import BaseModel
    >>> class Reply(BaseModel):
    ...     label: str
    >>> llm.structured("Classify 'I loved it' as positive or negative.", Reply)  # doctest: +SKIP
    Reply(label='positive')
    """

    backend = "local"
    supports_schema = True
    plans_tool_calls = False  # small local models plan poorly: the deterministic policy decides

    def __init__(
        self,
        model_path: str | Path,
        *,
        model_name: str | None = None,
        threads: int | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        compact_json: bool = True,
        verbose: bool = False,
        **kwargs: Any,
    ):
        kwargs.pop("max_concurrency", None)  # one request at a time: the model is shared and serial
        self.path = Path(model_path).expanduser()
        super().__init__(model_name or self.path.stem.lower(), max_concurrency=1, **kwargs)
        self.threads = int(threads) if threads is not None else default_threads()
        if self.threads < 1:
            raise ConfigError(f"threads must be a positive integer. Got {threads} instead.")
        self.n_ctx = n_ctx
        self.compact_json = compact_json
        self.verbose = verbose

    def _loaded(self) -> _Loaded:
        return loaded_model(self.path, self.threads, self.n_ctx, self.verbose)

    @property
    def listening_address(self) -> str:
        """Where llama.cpp's private listener is (a ``unix://`` socket). Loads the model."""
        return self._loaded().address

    def _body(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": _seed(request),
        }
        if request.json_schema is not None and self.compact_json and _has_llguidance():
            body["grammar"] = compact_json_grammar(request.json_schema)
        elif request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema, "strict": True},
            }
        return body

    def _complete(self, request: LLMRequest) -> LLMResponse:
        loaded = self._loaded()
        body = self._body(request)
        start = time.perf_counter()
        with loaded.lock:
            try:
                out = loaded.server.handle_chat_completions(body)
            except ValueError as exc:  # xllamacpp raises on malformed requests or unusable schemas
                raise LLMError(f"llama.cpp rejected the request: {exc}") from exc
        latency = time.perf_counter() - start
        if not isinstance(out, dict) or "error" in out:
            raise _server_error(out)
        choice = (out.get("choices") or [{}])[0]
        usage = out.get("usage") or {}
        raw = {"finish_reason": choice.get("finish_reason"), "timings": out.get("timings", {})}
        return LLMResponse(
            text=(choice.get("message") or {}).get("content") or "",
            model=self.model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
            raw=raw,
        )

    def describe(self) -> dict[str, Any]:
        """Backend, model name, file path and sha256, threads and context size (loads nothing)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "path": str(self.path),
            "sha256": file_sha256(self.path) if self.path.is_file() else None,
            "threads": self.threads,
            "n_ctx": self.n_ctx,
        }
