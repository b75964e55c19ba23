"""What every benchmark script does last: write its results as JSON and say where."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """What ran the benchmark: CPU count, platform and Python version, plus ``extra`` (load averages...)."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    } | extra


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` (indented JSON, parent folders made) and print where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {path}")
