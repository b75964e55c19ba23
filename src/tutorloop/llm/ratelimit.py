"""A rate limit shared by the threads of one backend: requests or tokens per minute, spaced evenly.

:class:`RateLimit` is a virtual-clock token bucket without burst (GCRA): each :meth:`RateLimit.acquire`
reserves ``cost / rate`` seconds after the previous reservation and sleeps until its own start, so over any
span of ``W`` seconds at most ``rate × W`` (plus one request's cost) is sent, however many threads ask.
The lock is held only to reserve, never while sleeping. :meth:`RateLimit.settle` corrects a reservation
once the real cost is known (tokens per minute are reserved from an estimate, then settled with the
``usage`` the server reports).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import ConfigError


class RateLimit:
    """At most ``per_minute`` units (requests or tokens) a minute, for all threads that share it.

    >>> now = [0.0]
    >>> limit = RateLimit(60, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> [limit.acquire() for _ in range(3)]  # seconds each caller waited: one request a second
    [0.0, 1.0, 1.0]
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not per_minute > 0:
            raise ConfigError(f"A rate limit must be a positive number per minute. Got {per_minute} instead.")
        self.per_minute = float(per_minute)
        self._per_s = self.per_minute / 60.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = clock()  # when the next unit may start (the "theoretical arrival time")

    def acquire(self, cost: float = 1.0) -> float:
        """Wait until ``cost`` units may be spent now; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + max(0.0, cost) / self._per_s
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def settle(self, delta: float) -> None:
        """Correct the last reservations by ``delta`` units (negative: fewer were spent than reserved)."""
        with self._lock:
            self._next = max(self._clock() if delta < 0 else self._next, self._next + delta / self._per_s)

    def __repr__(self) -> str:
        return f"RateLimit({self.per_minute:g}/min)"
