"""User directory and environment resolution, and the check that a folder tutorloop writes to is writable."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def user_dir() -> Path:
    """tutorloop's user directory: ``$TUTORLOOP_HOME`` or ``~/.cache/tutorloop``. Created on demand."""
    env = os.environ.get("TUTORLOOP_HOME")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "tutorloop"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create tutorloop's folder {path} ({exc.strerror}). "
            "Set TUTORLOOP_HOME to a writable folder."
        ) from None
    return path


def check_writable(folder: Path, what: str, fix: str) -> Path:
    """Create ``folder`` if needed and check this process may write in it; else a :class:`ConfigError`
    naming it (``what``: "run folder", …; ``fix``: what to do). Run before any paid work, so a read-only
    folder fails at once and not after the first LLM replies.

    >>> import tempfile
    >>> file = Path(tempfile.mkstemp()[1])
    >>> check_writable(file / "run", "run folder", "Choose another --out folder.")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tutorloop.errors.ConfigError: Cannot write to the run folder .../run (Not a directory). Choose another ...
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        reason = "no write permission, or a read-only file system"
    raise ConfigError(f"Cannot write to the {what} {folder} ({reason}). {fix}")
