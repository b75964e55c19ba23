"""Export a run's curated data set with provenance: JSONL, CSV, or a Hugging Face ``datasets`` folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..data.store import Store
from ..errors import ConfigError

FORMATS = ("jsonl", "csv", "hf")
_COLUMNS = (
    "id",
    "text",
    "label",
    "split",
    "origin",
    "round",
    "status",
    "verdict",
    "reason",
    "attributes",
    "model",
    "prompt_id",
)


def export_run(
    run_dir: str | Path,
    fmt: str = "jsonl",
    out: str | Path | None = None,
    *,
    include_dropped: bool = False,
    split: str | None = None,
) -> tuple[Path, int]:
    """Write the run's examples (active only unless ``include_dropped``) and return ``(path, rows)``.

    Every row keeps its provenance: split, origin, round, LLM verdict, attributes, model and prompt id.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    run_dir = Path(run_dir)
    if not (run_dir / "store.sqlite").is_file():
        raise ConfigError(f"{run_dir} is not a tutorloop run folder (no store.sqlite).")
    store = Store(run_dir / "store.sqlite")
    try:
        rows = store.examples(split=split, status=None if include_dropped else "active")
    finally:
        store.close()
    table: list[dict[str, Any]] = [
        {k: r[k] for k in _COLUMNS}  # type: ignore[literal-required]
        for r in rows
        if r["status"] != "pending" or include_dropped
    ]
    default = {"jsonl": "dataset.jsonl", "csv": "dataset.csv", "hf": "dataset_hf"}[fmt]
    path = Path(out) if out is not None else run_dir / "export" / default
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for r in table:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_COLUMNS)
            writer.writeheader()
            for r in table:
                writer.writerow(_flat(r))
    else:
        try:
            import datasets
        except ImportError as exc:
            raise ConfigError(
                'Export format "hf" needs the datasets package: pip install "tutorloop[setfit]" '
                "(or pip install datasets)."
            ) from exc
        features = datasets.Features(
            {c: datasets.Value("int64" if c in ("id", "round") else "string") for c in _COLUMNS}
        )
        datasets.Dataset.from_list([_flat(r) for r in table], features=features).save_to_disk(str(path))
    return path, len(table)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "attributes": json.dumps(row["attributes"], ensure_ascii=False)}
