"""Doctest collection of ``src/`` on a partial install: modules whose extra is missing are not collected.

Every other module of tutorloop imports on the base install (heavy dependencies are imported inside the
functions that need them), so only the modules listed here need an extra at import time.
"""

from __future__ import annotations

import importlib.util

# module file (relative to this folder) -> the package its import needs
_NEEDS = {
    "src/tutorloop/serve/app.py": "fastapi",
    "src/tutorloop/scale/ray_engine.py": "ray",
    # these import on the base install; only their examples need pyarrow (extra [io] or [ray])
    "src/tutorloop/scale/sources.py": "pyarrow",
    "src/tutorloop/scale/outputs.py": "pyarrow",
    "src/tutorloop/scale/predict.py": "pyarrow",
}

collect_ignore = [path for path, module in _NEEDS.items() if importlib.util.find_spec(module) is None]
