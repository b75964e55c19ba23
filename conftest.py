"""Doctest collection of ``src/`` on a partial install: modules whose extra is missing are not collected.

Every other module of tutorloop imports on the base install (heavy dependencies are imported inside the
functions that need them), so only the modules listed here need an extra at import time.
"""

from __future__ import annotations

import importlib.util

# module file (relative to this folder) -> the package its import needs
_NEEDS = {"src/tutorloop/serve/app.py": "fastapi"}

collect_ignore = [path for path, module in _NEEDS.items() if importlib.util.find_spec(module) is None]
