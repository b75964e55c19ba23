"""The model artifact: a directory anyone can load without the LLM or the training stack.

Layout::

    MODEL/
      manifest.json   format + version, kind, labels in order, library versions, training-data hash,
                      metrics, creation time, truncation settings, sha256 of every model file
      README.md       model card: what it was trained on, label counts, metrics
      model.skops     (tfidf) the scikit-learn pipeline, loaded with a fixed allow-list of types
      encoder.onnx    (embed, setfit) the sentence encoder in ONNX (int8 unless saved with fp32)
      tokenizer.json  (embed, setfit) the encoder's tokenizer (``tokenizers`` library)
      head.json       (embed, setfit) logistic-regression weights, pooling and normalisation

Nothing here unpickles: ``load`` reads JSON, skops (restricted types) and ONNX only.

>>> import tempfile
>>> from tutorloop.classifiers import make_classifier, load
>>> clf = make_classifier("tfidf").fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
>>> model = load(clf.save(tempfile.mkdtemp() + "/m"))
>>> model.classes_.tolist(), model.manifest["kind"]
(['neg', 'pos'], 'tfidf')
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArtifactError

if TYPE_CHECKING:
    from .base import TextClassifier

FORMAT = "tutorloop-classifier"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CARD = "README.md"
KINDS = ("tfidf", "embed", "setfit")

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
)

# Exactly the non-default types a TfidfClassifier pipeline contains; nothing else is trusted on load.
SKOPS_TRUSTED = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.slice",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "numpy.float64",
    "numpy.int64",
    "numpy.int32",
    "numpy.ndarray",
    "numpy.dtype",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
]


def _tutorloop_version() -> str:
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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dump_skops(obj: Any, path: Path) -> None:
    """Write a scikit-learn object with skops (no pickle)."""
    import skops.io as sio

    sio.dump(obj, path)


def load_skops(path: Path) -> Any:
    """Load a skops file, trusting only :data:`SKOPS_TRUSTED`; anything else is refused."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ArtifactError(
            f"{path} is not a readable skops file ({exc}); re-train and save the model."
        ) from exc
    unknown = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if unknown:
        raise ArtifactError(
            f"{path} contains types tutorloop does not trust: {', '.join(unknown)}. "
            "Only artifacts saved by tutorloop's tfidf classifier can be loaded."
        )
    try:
        return sio.load(path, trusted=sorted(set(untrusted)))
    except Exception as exc:
        raise ArtifactError(
            f"Could not load {path}: {exc}. The file may be corrupt; re-train the model."
        ) from exc


# -- writing --------------------------------------------------------------------------------------------


def write_artifact(
    clf: TextClassifier,
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
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": clf.kind,
            "labels": [str(c) for c in clf.classes_],
            "params": _jsonable(clf.get_params()),
            "truncation": clf._truncation(),
            "model": model_info,
            "files": files,
            "training": {
                "n_examples": int(clf.n_train_),
                "label_counts": {str(k): int(v) for k, v in clf.label_counts_.items()},
                "data_hash": data_hash or clf.data_hash_,
            },
            "metrics": _jsonable(metrics or {}),
            "extra": _jsonable(extra or {}),
            "tutorloop_version": _tutorloop_version(),
            "library_versions": library_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (tmp / CARD).write_text(model_card(manifest), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON, turning numpy scalars/arrays and other objects into plain values."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def model_card(manifest: dict[str, Any]) -> str:
    """A short markdown model card built from the manifest."""
    training = manifest["training"]
    lines = [
        f"# tutorloop {manifest['kind']} classifier",
        "",
        f"Created {manifest['created']} with tutorloop {manifest['tutorloop_version']}.",
        "",
        "## Usage",
        "",
        "```python",
        "import tutorloop",
        "model = tutorloop.load('path/to/this/directory')",
        "model.predict(['some text'])",
        "```",
        "",
        'or `tutorloop predict MODEL "some text"` / `tutorloop serve MODEL`.',
        "",
        "## Training data",
        "",
        f"{training['n_examples']} labelled examples (data hash `{training['data_hash']}`).",
        "",
        "| label | examples |",
        "|---|---|",
        *[f"| {lab} | {n} |" for lab, n in training["label_counts"].items()],
        "",
    ]
    if manifest.get("extra"):
        lines += ["Provenance:", "", "```json", json.dumps(manifest["extra"], indent=2), "```", ""]
    lines += ["## Metrics", ""]
    metrics = manifest.get("metrics") or {}
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    if scalars:
        lines += ["| metric | value |", "|---|---|"]
        lines += [
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in scalars.items()
        ]
    else:
        lines.append("No held-out metrics were recorded for this model.")
    lines += [
        "",
        "## Model",
        "",
        f"Kind `{manifest['kind']}`; truncation: `{json.dumps(manifest['truncation'])}`.",
        f"Parameters: `{json.dumps(manifest['params'])}`.",
        "",
    ]
    return "\n".join(lines)


# -- reading --------------------------------------------------------------------------------------------


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and validate ``manifest.json`` of an artifact directory; raises :class:`ArtifactError`."""
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
    if manifest["kind"] not in KINDS:
        raise ArtifactError(
            f"{root} has unknown kind {manifest['kind']!r}; expected one of {', '.join(KINDS)}."
        )
    for name, digest in manifest["files"].items():
        fpath = root / name
        if not fpath.is_file():
            raise ArtifactError(f"{root} is incomplete: {name} is missing. Re-save the model.")
        if sha256_file(fpath) != digest:
            raise ArtifactError(f"{fpath} does not match its checksum in {MANIFEST}: the file is corrupt.")
    return manifest


class Predictor:
    """A loaded model: ``predict``, ``predict_proba``, ``classes_`` and ``manifest``. Needs no LLM or torch.

    Build one with :func:`load`.
    """

    def __init__(self, manifest: dict[str, Any], path: Path) -> None:
        self.manifest = manifest
        self.path = path
        self.classes_ = np.array(manifest["labels"], dtype=object)

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in ``classes_`` order."""
        from .base import check_texts

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return np.asarray(self._proba(texts), dtype=np.float64)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted label names."""
        proba = self.predict_proba(texts)
        return self.classes_[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)

    def _proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<tutorloop {self.kind} model {self.path} labels={list(self.classes_)}>"


class SkopsPredictor(Predictor):
    """A tfidf model loaded from ``model.skops``."""

    def __init__(self, manifest: dict[str, Any], path: Path) -> None:
        super().__init__(manifest, path)
        self._pipeline = load_skops(path / "model.skops")
        self._max_chars = int(manifest.get("truncation", {}).get("max_chars") or 0)
        n = len(getattr(self._pipeline, "classes_", []))
        if n != len(self.classes_):
            raise ArtifactError(
                f"{path}: the model has {n} classes but the manifest lists {len(self.classes_)}."
            )

    def _proba(self, texts: list[str]) -> np.ndarray:
        if self._max_chars:
            texts = [t[: self._max_chars] for t in texts]
        return self._pipeline.predict_proba(texts)


def load(path: str | Path, *, threads: int | None = None, batch_size: int = 64) -> Predictor:
    """Load a saved model for prediction. Needs neither the LLM nor torch/setfit.

    Args:
        path: the artifact directory written by ``clf.save(...)`` or ``tutorloop train``.
        threads: onnxruntime intra-op threads for embed/setfit models (default: onnxruntime's choice).
        batch_size: texts per ONNX call.

    Raises:
        ArtifactError: missing, corrupt or foreign directory, or a model from a newer tutorloop.
    """
    root = Path(path)
    manifest = read_manifest(root)
    if manifest["kind"] == "tfidf":
        return SkopsPredictor(manifest, root)
    from .onnx_runtime import OnnxPredictor

    return OnnxPredictor(manifest, root, threads=threads, batch_size=batch_size)
