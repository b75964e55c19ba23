"""What every benchmark script does last: write its results as JSON and say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` (indented JSON, parent folders made) and print where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {path}")
