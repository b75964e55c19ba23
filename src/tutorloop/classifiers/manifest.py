"""The artifact format: a directory anyone can load without the LLM or the training stack.

Layout::

    MODEL/
      manifest.json   format + version, kind, labels in order, library versions, training-data hash,
                      metrics, creation time, truncation settings, sha256 of every model file
      README.md       model card: what it was trained on, label counts, metrics
      model.skops     (tfidf) the scikit-learn pipeline, loaded with a fixed allow-list of types
      encoder.onnx    (embed, setfit) the sentence encoder in ONNX (int8 unless saved with fp32)
      tokenizer.json  (embed, setfit) the encoder's tokenizer (``tokenizers`` library)
      vectors.npy     (static) one vector per token, float16, read with numpy (allow_pickle=False)
      tokenizer.json  (static) the tokenizer whose ids index vectors.npy
      head.json       (embed, setfit, static) logistic-regression weights

This module builds, writes, reads and validates ``manifest.json``. Nothing here unpickles: loading
reads JSON, skops (restricted types), ONNX and .npy without pickle only.

>>> manifest = build_manifest(kind="tfidf", labels=["neg", "pos"], params={"C": 1.0}, truncation={},
...                           model={}, files={}, n_examples=2, label_counts={"neg": 1, "pos": 1},
...                           data_hash="sha256:0")
>>> manifest["format"], manifest["format_version"], manifest["kind"]
('tutorloop-classifier', 1, 'tfidf')
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError
from . import registry

FORMAT = "tutorloop-classifier"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CARD = "README.md"
# Every file a predictor of a built-in kind reads. Each must be listed (with its sha256) in the manifest
# when it is present: otherwise a manifest that drops a file's entry would let an unchecked file load.
MODEL_FILES = ("model.skops", "encoder.onnx", "tokenizer.json", "head.json", "vectors.npy")

_LIBRARIES = (
    "numpy",
    "scikit-learn",
    "skops",
    "onnxruntime",
    "onnx",
    "tokenizers",
    "torch",
    "sentence-transformers",
    "transformers",
    "setfit",
    "model2vec",
)


def tutorloop_version() -> str:
    """The installed tutorloop's version (``0.0.0`` when running from a bare source tree)."""
    try:
        return metadata.version("tutorloop")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def library_versions(names: Sequence[str] = _LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that matter for a model (missing ones are left out)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def jsonable(obj: Any) -> Any:
    """Round-trip through JSON, turning numpy scalars/arrays and other objects into plain values."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


# -- writing --------------------------------------------------------------------------------------------


def build_manifest(
    *,
    kind: str,
    labels: Sequence[Any],
    params: Mapping[str, Any],
    truncation: Mapping[str, Any],
    model: Mapping[str, Any],
    files: Mapping[str, str],
    n_examples: int,
    label_counts: Mapping[Any, int],
    data_hash: str,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of a model: ``model`` holds the kind's own settings, ``files`` name -> sha256."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "labels": [str(c) for c in labels],
        "params": jsonable(dict(params)),
        "truncation": dict(truncation),
        "model": dict(model),
        "files": dict(files),
        "training": {
            "n_examples": int(n_examples),
            "label_counts": {str(k): int(v) for k, v in label_counts.items()},
            "data_hash": data_hash,
        },
        "metrics": jsonable(dict(metrics or {})),
        "extra": jsonable(dict(extra or {})),
        "tutorloop_version": tutorloop_version(),
        "library_versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` into ``directory``; returns its path."""
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# -- reading --------------------------------------------------------------------------------------------


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and validate ``manifest.json`` of an artifact directory; raises :class:`ArtifactError`.

    Checks the format and its version, that the kind is registered, and every model file's sha256.
    """
    root = Path(path)
    if not root.exists():
        raise ArtifactError(f"No model at {root}: the path does not exist. Train one with `tutorloop train`.")
    if not root.is_dir():
        raise ArtifactError(
            f"{root} is not a model directory; a tutorloop model is a directory with manifest.json."
        )
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"{root} is not a tutorloop model: it has no {MANIFEST}.")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{mpath} is corrupt ({exc}); re-train or re-save the model.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{root} is not a tutorloop model: its {MANIFEST} is not a '{FORMAT}' manifest.")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ArtifactError(f"{mpath} has no valid format_version; the manifest is corrupt.")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{root} was saved by a newer tutorloop (artifact format {version}, made by tutorloop "
            f"{manifest.get('tutorloop_version', '?')}); this tutorloop reads format {FORMAT_VERSION}. "
            "Upgrade: pip install -U tutorloop"
        )
    for key in ("kind", "labels", "files"):
        if key not in manifest:
            raise ArtifactError(f"{mpath} lacks '{key}'; the manifest is corrupt.")
    if not isinstance(manifest["kind"], str) or manifest["kind"] not in registry.REGISTRY:
        raise ArtifactError(
            f"{root} has unknown kind {manifest['kind']!r}; expected one of {', '.join(registry.names())}."
        )
    _check_types(manifest, mpath)
    files = manifest["files"]
    if len(manifest["labels"]) < 2:
        raise ArtifactError(
            f"{mpath}: 'labels' is not a list of at least two labels; the manifest is corrupt."
        )
    for name in files:
        if name != Path(name).name or name in ("", ".", "..", MANIFEST, CARD):
            raise ArtifactError(
                f"{mpath} lists {name!r} as a model file; model files are plain names inside the model "
                "directory. The manifest is corrupt or was tampered with."
            )
    unlisted = sorted(n for n in MODEL_FILES if n not in files and (root / n).exists())
    if unlisted:
        raise ArtifactError(
            f"{root} holds {', '.join(unlisted)}, which {MANIFEST} does not list with a checksum, so it "
            "cannot be checked. The manifest was edited or the file was added: re-save the model."
        )
    for name, digest in files.items():
        fpath = root / name
        if not fpath.is_file():
            raise ArtifactError(f"{root} is incomplete: {name} is missing. Re-save the model.")
        if sha256_file(fpath) != digest:
            raise ArtifactError(f"{fpath} does not match its checksum in {MANIFEST}: the file is corrupt.")
    return manifest


_MAPPINGS = ("params", "truncation", "model", "training", "metrics", "extra")


def _check_types(manifest: dict[str, Any], mpath: Path) -> None:
    """Each field the loaders read has the type :func:`build_manifest` writes; else :class:`ArtifactError`."""

    def bad(field: str, want: str) -> ArtifactError:
        got = manifest[field] if field in manifest else None
        return ArtifactError(
            f"{mpath}: '{field}' must be {want}, not {type(got).__name__} ({got!r:.60}); the manifest is "
            "corrupt or was edited. Re-train or re-save the model."
        )

    labels = manifest["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise bad("labels", "a non-empty list of label names")
    files = manifest["files"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise bad("files", "a mapping of file name to sha256")
    for field in _MAPPINGS:
        if field in manifest and not isinstance(manifest[field], dict):
            raise bad(field, "a mapping")
    for key in ("max_chars", "max_seq_length"):
        value = (manifest.get("truncation") or {}).get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ArtifactError(
                f"{mpath}: truncation.{key} must be a whole number, not {value!r:.40}; the manifest is "
                "corrupt or was edited. Re-train or re-save the model."
            )
