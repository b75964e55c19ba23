"""What every phase of a run shares: the task, config, LLM, store, deduper, budget and progress display."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..data.dedup import Deduper
from ..data.store import Store
from ..llm.base import LLM
from ..llm.ledger import Ledger
from .config import LoopConfig
from .task import Task

if TYPE_CHECKING:
    from .label_space import LabelSpace
    from .pool import PoolState


class BudgetExhausted(Exception):  # noqa: N818 - internal control flow, not an error for users
    """Raised inside a phase when the token or time budget ran out; the runner decides what it means."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Budget:
    """Token and wall-clock limits of a run, for all its attempts together. Tokens are the paid (uncached)
    tokens in the run's ledger; seconds are ``spent_before`` (the earlier attempts', as the store last
    recorded them) plus this process's since ``started``."""

    ledger: Ledger
    tokens: int | None
    seconds: float | None
    spent_before: float = 0.0
    started: float = field(default_factory=lambda: time.monotonic())

    def tokens_used(self) -> int:
        return int(self.ledger.summary()["total_tokens"])

    def elapsed(self) -> float:
        """Wall-clock seconds the run has taken, earlier attempts included."""
        return self.spent_before + time.monotonic() - self.started

    def exhausted(self) -> str | None:
        """Why the budget is spent, or ``None`` while there is some left."""
        if self.tokens is not None and self.tokens_used() >= self.tokens:
            return f"token budget of {self.tokens:,} spent ({self.tokens_used():,} tokens used)"
        if self.seconds is not None and self.elapsed() >= self.seconds:
            return f"time budget of {self.seconds:.0f} s spent"
        return None

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` when the budget is spent."""
        reason = self.exhausted()
        if reason:
            raise BudgetExhausted(reason)

    def left(self) -> str:
        parts = []
        if self.tokens is not None:
            parts.append(f"{max(0, self.tokens - self.tokens_used()):,} tokens")
        if self.seconds is not None:
            parts.append(f"{max(0.0, self.seconds - self.elapsed()):.0f} s")
        return ", ".join(parts) or "unlimited"


class Advance(Protocol):
    """Moves a :meth:`UI.phase` on by ``n`` steps (one when called bare)."""

    def __call__(self, n: int = 1) -> None: ...


class UI:
    """rich progress bars for long phases and one-line messages; silent when ``enabled`` is False."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._console = None
        if enabled:
            from rich.console import Console

            self._console = Console(stderr=True)

    def line(self, message: str, style: str | None = None) -> None:
        """Print one line (plain text: brackets in messages are not rich markup)."""
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text(message, style=style or ""), highlight=False)

    @contextmanager
    def phase(self, description: str, total: int) -> Iterator[Advance]:
        """Progress for ``total`` steps; yields the function that advances it (by one, or by ``n``).

        On a terminal: a transient rich bar. Otherwise (a log file, CI, a pipe): plain lines, one when the
        phase starts, one every ``PLAIN_EVERY_S`` seconds with the count and rate, one when it ends."""
        if self._console is None or total <= 0:
            yield lambda n=1: None
            return
        if not self._console.is_terminal:
            with self._plain_phase(description, total) as advance:
                yield advance
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        ) as progress:
            task_id = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task_id, n)

    PLAIN_EVERY_S = 30.0

    @contextmanager
    def _plain_phase(self, description: str, total: int) -> Iterator[Advance]:
        start = last = time.monotonic()
        done = 0
        lock = threading.Lock()  # the loop advances a phase from its LLM worker threads
        self.line(f"{description}: 0/{total} ...")

        def advance(n: int = 1) -> None:
            nonlocal done, last
            with lock:
                done += n
                now = time.monotonic()
                if done >= total or now - last < self.PLAIN_EVERY_S:
                    return
                last = now
                count = done
            self.line(f"{description}: {count}/{total}, {_rate(count, now - start)}")

        yield advance
        elapsed = time.monotonic() - start
        rate = f" ({_rate(done, elapsed)})" if total > 1 else ""
        self.line(f"{description}: {done}/{total} done in {elapsed:.1f} s{rate}")


def _rate(done: int, seconds: float) -> str:
    """``"2.5/s"``, or ``"12.0 s each"`` below one per second."""
    if done == 0 or seconds <= 0:
        return "no step finished yet"
    per_s = done / seconds
    return f"{per_s:.1f}/s" if per_s >= 1 else f"{seconds / done:.1f} s each"


@dataclass
class Context:
    """State shared by the phases of one run. ``llm`` records its calls in the run's ledger
    (``budget.ledger``)."""

    task: Task
    config: LoopConfig
    llm: LLM
    store: Store
    dedup: Deduper
    budget: Budget
    ui: UI
    run_dir: Path
    unlabelled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pool: PoolState | None = None  # the unlabelled pool's embeddings and prior (see .pool)
    label_space: LabelSpace | None = None  # label anchors for prompt shortlists, built on first use

    def warn(self, message: str) -> None:
        """Record a warning for the report and show it."""
        if message not in self.warnings:
            self.warnings.append(message)
            self.store.set_meta("warnings", self.warnings)
        self.ui.line(f"warning: {message}", style="yellow")
