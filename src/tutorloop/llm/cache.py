"""Content-addressed LLM response cache in SQLite.

Keys are :meth:`tutorloop.types.LLMRequest.key` (sha256 of the whole request plus backend and model).
Only reply text and token counts are stored: never headers, API keys or base URLs.

A reply is put in the cache before any ledger records it (so a crash after the call never pays for it
again), marked ``recorded = 0`` until :meth:`ResponseCache.mark_recorded`: a crash between the two leaves
a paid reply no ledger counted, and its next use counts it (see :meth:`tutorloop.llm.base.LLM.complete`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import warnings
from pathlib import Path

from ..config import check_writable, user_dir
from ..errors import ConfigError
from ..types import LLMResponse

# SQLite's primary result codes for a write that failed for lack of room or rights, not for a bug
_STORAGE_FAILURES = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
}


def default_cache_path() -> Path:
    """``$TUTORLOOP_HOME/llm_cache.sqlite`` (see :func:`tutorloop.config.user_dir`)."""
    return user_dir() / "llm_cache.sqlite"


class ResponseCache:
    """A thread-safe SQLite map from request key to reply.

    >>> import tempfile, os
    >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cache.get("k") is None
    True
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        fix = "Make it writable, set TUTORLOOP_HOME to a writable folder, or run with --no-cache."
        check_writable(self.path.parent, "LLM response cache folder", fix)
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise ConfigError(
                f"Cannot write to the LLM response cache {self.path} (no write permission). {fix}"
            )
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, text TEXT,"
            " prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL,"
            " created REAL DEFAULT (unixepoch()), recorded INTEGER NOT NULL DEFAULT 1)"
        )
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(replies)")}
        if "recorded" not in columns:  # a cache written before the column existed: all its rows counted
            self._conn.execute("ALTER TABLE replies ADD COLUMN recorded INTEGER NOT NULL DEFAULT 1")
        self._conn.commit()

    def get(self, key: str) -> LLMResponse | None:
        """The stored reply, or None. Its ``cached`` is False when no ledger has counted it yet (it was
        put with ``recorded=False`` and the process died before :meth:`mark_recorded`): it was paid for,
        and whoever uses it next counts it."""
        with self._lock:
            row = self._conn.execute(
                "SELECT model, text, prompt_tokens, completion_tokens, latency_s, recorded FROM replies"
                " WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        model, text, pt, ct, lat, recorded = row
        return LLMResponse(
            text=text,
            model=model,
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_s=lat,
            cached=bool(recorded),
        )

    def put(self, key: str, response: LLMResponse, *, recorded: bool = True) -> None:
        """Store a reply (``recorded=False``: a ledger has not counted it yet, see :meth:`mark_recorded`).
        When the disk is full or the file read-only, warn and go on without it: the reply is still used,
        and the cache only saves a repeat of the call."""
        try:
            self._put(key, response, recorded)
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF not in _STORAGE_FAILURES:
                raise
            warnings.warn(
                f"Could not write the LLM response cache {self.path} ({exc}); going on without caching. "
                "Free some space or set TUTORLOOP_HOME to another folder.",
                stacklevel=2,
            )

    def _put(self, key: str, response: LLMResponse, recorded: bool) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO replies"
                " (key, model, text, prompt_tokens, completion_tokens, latency_s, recorded)"
                " VALUES (?,?,?,?,?,?,?)",
                (
                    key,
                    response.model,
                    response.text,
                    response.prompt_tokens,
                    response.completion_tokens,
                    response.latency_s,
                    int(recorded),
                ),
            )
            self._conn.commit()

    def mark_recorded(self, key: str) -> None:
        """Note that a ledger has counted the reply under ``key`` (later uses are free cache hits)."""
        try:
            with self._lock:
                self._conn.execute("UPDATE replies SET recorded = 1 WHERE key = ? AND recorded = 0", (key,))
                self._conn.commit()
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF not in _STORAGE_FAILURES:
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def dump(self) -> list[dict]:
        """All rows, for inspection and tests."""
        with self._lock:
            rows = self._conn.execute("SELECT key, model, text FROM replies").fetchall()
        return [json.loads(json.dumps({"key": k, "model": m, "text": t})) for k, m, t in rows]
