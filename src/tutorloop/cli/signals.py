"""Stop a command on SIGTERM or SIGHUP the way Ctrl-C stops it, and make Ctrl-C work in background jobs.

Python's default for SIGTERM ends the process at once: no ``finally``, no message, no bench
``.partial.json``. :func:`interruptible` turns SIGTERM into a :class:`KeyboardInterrupt` in the main
thread for the command's duration, so the Ctrl-C path runs (open transactions roll back, the LLM is
closed, the "how to resume" line prints). It also installs Python's own SIGINT handler: shells start
background jobs with SIGINT ignored, and Python then keeps it ignored, so ``kill -INT`` did nothing.
SIGHUP (the terminal was closed) stops the command the same way, unless it is ignored (``nohup``), when it
stays ignored. The previous handlers come back when the command ends.

>>> import os, signal
>>> with interruptible():
...     try:
...         os.kill(os.getpid(), signal.SIGTERM)
...     except KeyboardInterrupt as exc:
...         print(exit_code(exc))
143
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when a signal other than SIGINT stops the command."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's code for a process stopped by the signal: 128 + its number (130 Ctrl-C, 143 SIGTERM)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM, SIGINT and (unless ignored) SIGHUP raise :class:`KeyboardInterrupt` in the
    main thread."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set them
        yield
        return
    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _terminate}
    hangup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:  # under nohup it stays ignored
        wanted[hangup] = _terminate
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # None: a handler not set from Python, which cannot be put back; the default is the nearest
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
