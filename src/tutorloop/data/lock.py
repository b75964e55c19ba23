"""One process per run folder: an exclusive, non-blocking ``flock`` on ``DIR/.lock``.

The kernel drops the lock when its process ends, however it ends (SIGKILL included), so a crashed run
never leaves its folder locked. The file keeps the holder's pid, for the message the second process shows.
On systems without ``fcntl`` (Windows) no lock is taken.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ..errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


class RunLock:
    """Hold ``run_dir``'s lock until :meth:`release` (or the process ends).

    Raises :class:`~tutorloop.errors.ConfigError` at once when another process holds it.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fh: IO[str] | None = None
        if fcntl is None:
            return
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while the run works
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown pid"
            fh.close()
            raise ConfigError(
                f"{run_dir} is in use by another tutorloop process ({holder}). Wait for it to finish or "
                "stop it, then resume; the lock goes away with that process, also if it crashed."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Let another process open the folder (idempotent)."""
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
