"""User directory and environment resolution."""

from __future__ import annotations

import os
from pathlib import Path


def user_dir() -> Path:
    """tutorloop's user directory: ``$TUTORLOOP_HOME`` or ``~/.cache/tutorloop``. Created on demand."""
    env = os.environ.get("TUTORLOOP_HOME")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "tutorloop"
    path.mkdir(parents=True, exist_ok=True)
    return path
