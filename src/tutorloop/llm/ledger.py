"""Ledger: one line per LLM call (tokens, latency, cost estimate, cache hit), for per-run reports."""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError, DataError


@dataclass
class LedgerEntry:
    backend: str
    model: str
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    cost_usd: float
    time: float
    key: str = ""  # the request's cache key (rows written before it was recorded have none)


class Ledger:
    """Accumulates :class:`LedgerEntry` rows in memory and, if ``path`` is given, appends them as JSONL.

    ``cost_per_1k`` is ``(prompt, completion)`` USD per 1,000 tokens; local models cost 0.
    """

    def __init__(self, path: str | Path | None = None, cost_per_1k: tuple[float, float] = (0.0, 0.0)):
        self.path = Path(path) if path is not None else None
        self.cost_per_1k = cost_per_1k
        self.entries: list[LedgerEntry] = []
        self._paid: set[str] = set()  # request keys of the paid (not cached) rows
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        """Read the rows; a torn last line (a write cut short by a crash or a full disk) is cut off with a
        warning, so the next row starts on a line of its own. A bad line before the last is a DataError."""
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        start = 0
        for i, line in enumerate(lines):
            try:
                if line.strip():
                    self._add(LedgerEntry(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                if any(rest.strip() for rest in lines[i + 1 :]):
                    raise DataError(
                        f"{path}, line {i + 1}: not a ledger row ({exc}). Remove that line to resume; "
                        "the calls it recorded will then not count against the token budget."
                    ) from None
                warnings.warn(
                    f"{path}: its last line was cut short (a crash or a full disk while it was written) "
                    "and is removed; that one call is not counted against the token budget.",
                    stacklevel=3,
                )
                os.truncate(path, start)
                return
            start += len(line) + 1
        if raw and not raw.endswith(b"\n"):  # a whole row whose newline was lost
            with path.open("ab") as fh:
                fh.write(b"\n")

    def record(
        self,
        *,
        backend: str,
        model: str,
        purpose: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        cached: bool,
        key: str = "",
    ) -> LedgerEntry:
        price_in, price_out = self.cost_per_1k
        cost = 0.0 if cached else (prompt_tokens * price_in + completion_tokens * price_out) / 1000
        entry = LedgerEntry(
            backend,
            model,
            purpose,
            prompt_tokens,
            completion_tokens,
            round(latency_s, 4),
            cached,
            round(cost, 6),
            time.time(),
            key,
        )
        with self._lock:
            self._add(entry)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(entry)) + "\n")
        return entry

    def _add(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)
        if entry.key and not entry.cached:
            self._paid.add(entry.key)

    def has_paid(self, key: str) -> bool:
        """Whether a paid (not cached) row for the request ``key`` is recorded."""
        with self._lock:
            return key in self._paid

    def summary(self) -> dict[str, float | int]:
        """Totals: calls, cache hits, tokens (paid = not cached), seconds spent in the LLM, cost.

        ``work_tokens`` counts cached replies too: the tokens the work would cost without the cache, which
        is what comparisons between methods should use (a method that reuses another's replies is not free).
        """
        with self._lock:
            es = list(self.entries)
        paid = [e for e in es if not e.cached]
        return {
            "calls": len(es),
            "cache_hits": len(es) - len(paid),
            "prompt_tokens": sum(e.prompt_tokens for e in paid),
            "completion_tokens": sum(e.completion_tokens for e in paid),
            "total_tokens": sum(e.prompt_tokens + e.completion_tokens for e in paid),
            "work_tokens": sum(e.prompt_tokens + e.completion_tokens for e in es),
            "llm_seconds": round(sum(e.latency_s for e in paid), 2),
            "cost_usd": round(sum(e.cost_usd for e in paid), 6),
        }


def parse_price(text: str) -> tuple[float, float]:
    """``"PROMPT,COMPLETION"`` in USD per million tokens (as providers quote them) -> ``cost_per_1k``.

    >>> parse_price("0.15,0.60")
    (0.00015, 0.0006)
    >>> parse_price("5")
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Price '5' is not PROMPT,COMPLETION USD per million tokens (e.g. 0.15,0.6).
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        prompt, completion = (float(p) for p in parts)
    except ValueError:
        prompt = completion = -1.0
    if prompt < 0 or completion < 0:
        raise ConfigError(f"Price '{text}' is not PROMPT,COMPLETION USD per million tokens (e.g. 0.15,0.6).")
    return prompt / 1000, completion / 1000
