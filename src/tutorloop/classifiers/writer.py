"""Writing an artifact directory: the kind's model files, ``manifest.json`` and the model card, atomically."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from ..errors import ArtifactError
from .manifest import CARD, MANIFEST, build_manifest, sha256_file, write_manifest
from .model_card import model_card


class Saveable(Protocol):
    """What the writer needs of a fitted classifier (every fitted :class:`TextClassifier` has it)."""

    kind: str
    classes_: Any
    n_train_: int
    label_counts_: dict[str, int]
    data_hash_: str

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def _save_model(self, directory: Path) -> dict[str, Any]: ...

    def _truncation(self) -> dict[str, Any]: ...


def write_artifact(
    clf: Saveable,
    path: str | Path,
    *,
    metrics: dict | None = None,
    data_hash: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``clf`` as an artifact directory at ``path`` (replacing an earlier artifact there)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} exists and is not a directory; choose another --out path.")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise ArtifactError(
            f"{out} is a non-empty directory that is not a tutorloop model; refusing to overwrite."
        )
    tmp = out.with_name(out.name + ".tmp-write")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model_info = clf._save_model(tmp)
        files = {name: sha256_file(tmp / name) for name in model_info.pop("files")}
        manifest = build_manifest(
            kind=clf.kind,
            labels=clf.classes_,
            params=clf.get_params(),
            truncation=clf._truncation(),
            model=model_info,
            files=files,
            n_examples=clf.n_train_,
            label_counts=clf.label_counts_,
            data_hash=data_hash or clf.data_hash_,
            metrics=metrics,
            extra=extra,
        )
        write_manifest(tmp, manifest)
        (tmp / CARD).write_text(model_card(manifest), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
