"""Stop a command on SIGTERM or SIGHUP the way Ctrl-C stops it, and make Ctrl-C work in background jobs.

Python's default for SIGTERM ends the process at once: no ``finally``, no message, no bench
``.partial.json``. :func:`interruptible` turns SIGTERM into a :class:`KeyboardInterrupt` in the main
thread for the command's duration, so the Ctrl-C path runs (open transactions roll back, the LLM is
closed, the "how to resume" line prints). It also installs Python's own SIGINT handler: shells start
background jobs with SIGINT ignored, and Python then keeps it ignored, so ``kill -INT`` did nothing.
SIGHUP (the terminal was closed) stops the command the same way, unless it is ignored (``nohup``), when it
stays ignored. The previous handlers come back when the command ends.

A signal can land while native code runs a Python callback (pydantic-core building a schema, say), which
may catch the :class:`KeyboardInterrupt` and raise its own error instead (seen: ``SchemaError:
Terminated: SIGTERM``). So an error that leaves the block after a signal arrived is raised as that
signal's interrupt, chained to the error, and the command still stops the Ctrl-C way.

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


def _interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM, SIGINT and (unless ignored) SIGHUP raise :class:`KeyboardInterrupt` in the
    main thread (also when code in between turned it into another error)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set them
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise _interrupt(signum)

    wanted = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:  # under nohup it stays ignored
        wanted.append(hangup)
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    except Exception as exc:
        if received:  # the interrupt was caught and re-raised as something else on its way out
            raise _interrupt(received[-1]) from exc
        raise
    finally:
        for sig, before in previous.items():
            # None: a handler not set from Python, which cannot be put back; the default is the nearest
            signal.signal(sig, signal.SIG_DFL if before is None else before)
